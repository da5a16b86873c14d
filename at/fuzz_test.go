package at

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// commandSeeds are the command lines modules see, and the attacks of
// issue 12, for every fuzz target here.
var commandSeeds = []string{
	"AT", "ATZ", "AT&F", "ATI", "ATI0", "at+cpin?", "AT   +CSQ",
	"AT+CMEE=2;+USECC2C=2", "ATE0V1&C1&D2", "ATS0=0", "ATD*99#", "ATD*99***1#;",
	`AT+CGDCONT=1,"IP","internet;x"`, `AT+CMGS="+4412 345"`, "AT+USOWR=0,5",
	`AT+USOST=0,"1.2.3.4",80,16`, `AT+UDWNFILE="f",10`, `AT+USECMNG=0,0,"ca",5`,
	"ATZ E0 V1", "ATX4 &C1", "AT+CGDATA=\"PPP\",1", "ATA", "ATO",
	"AT+USECX\bC2C=3", "AT+USEC\x01C2C=3", "AT+USEC C2C=3", "ATS5=88", "ATS3=0",
	"A/", "a/", "CONNECT", "@", "ATV0", "ATQ1", "AT&W", "AT+IPR=9600",
	`AT+CPIN="1234"`, "AT+CPIX\x7fN=1234", "AT\\Q3", "ATD>\"x\";",
}

// FuzzLineEditor: any byte stream, split anywhere, gives the same lines;
// every line is short enough, holds no control byte, and each terminator
// ends exactly one line.
func FuzzLineEditor(f *testing.F) {
	for _, s := range commandSeeds {
		f.Add([]byte(s+"\r"), []byte{1, 2, 3})
		f.Add([]byte(s+"\r\n"+s), []byte{7})
	}
	f.Add([]byte(strings.Repeat("x", MaxCommandLine)+"\rAT\r"), []byte{255, 1})
	f.Add([]byte(strings.Repeat("x", MaxCommandLine-1)+"\b\bA/\r"), []byte{0})
	f.Fuzz(func(t *testing.T, data, cuts []byte) {
		var whole LineEditor
		want := feedAll(&whole, data)

		var split LineEditor
		var got []Line
		for p, k := data, 0; len(p) > 0; k++ {
			n := 1
			if len(cuts) > 0 {
				n = int(cuts[k%len(cuts)])%32 + 1
			}
			n = min(n, len(p))
			got = append(got, feedAll(&split, p[:n])...)
			p = p[n:]
		}
		if !equalLines(got, want) {
			t.Fatalf("split lines %q, whole %q", got, want)
		}
		if whole.Partial() != split.Partial() {
			t.Fatalf("Partial %v split, %v whole", split.Partial(), whole.Partial())
		}

		ends := 0
		for _, l := range want {
			if len(l.Text) > MaxCommandLine-1 {
				t.Fatalf("line of %d bytes", len(l.Text))
			}
			for i := 0; i < len(l.Text); i++ {
				if c := l.Text[i]; c < 0x20 || c == EditDelete {
					t.Fatalf("control byte %#x in %q", c, l.Text)
				}
			}
			switch l.Kind {
			case LineCommand:
				ends++
			case LineOverlong:
				ends++
				if l.Text != "" {
					t.Fatalf("overlong line with text %q", l.Text)
				}
			case LineRepeat:
				if !strings.EqualFold(l.Text, "A/") {
					t.Fatalf("repeat line %q", l.Text)
				}
			}
		}
		if n := strings.Count(string(data), string(CommandTerminator)); ends != n {
			t.Fatalf("%d lines ended for %d terminators", ends, n)
		}
	})
}

// FuzzCheckCommandLine: no panic, and a line the policy allows holds no
// +USECC2C (in any case, with spaces dropped), no control or non-ASCII byte,
// and none of the commands that change how the module talks.
func FuzzCheckCommandLine(f *testing.F) {
	for _, s := range commandSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		line, perr := ParseCommandLine(s)
		d := CheckCommandLine(s)
		if d.Err != nil {
			if !errors.Is(d.Err, ErrRefused) && !errors.Is(d.Err, ErrEmptyLine) {
				t.Fatalf("error %v is neither a refusal nor an empty line", d.Err)
			}
			return
		}
		if perr != nil {
			t.Fatalf("allowed %q that ParseCommandLine refuses: %v", s, perr)
		}
		if line.Canonical != Canonical(s) || d.Line.Canonical != line.Canonical {
			t.Fatalf("canonical %q / %q, want %q", line.Canonical, d.Line.Canonical, Canonical(s))
		}
		checkAllowed(t, s, d)
	})
}

// FuzzCheckLine: the application's raw bytes through the LineEditor and
// CheckLine, as the bridge runs them: what would be forwarded passes the
// same checks.
func FuzzCheckLine(f *testing.F) {
	for _, s := range commandSeeds {
		f.Add([]byte(s + "\r"))
	}
	f.Add([]byte("ATE0\rAT+USEC\bC2C=3\rA/AT+CSQ\r"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var e LineEditor
		for _, l := range feedAll(&e, data) {
			d := CheckLine(l)
			if d.Err != nil {
				continue
			}
			if l.Kind != LineCommand {
				t.Fatalf("allowed a %v line", l.Kind)
			}
			checkAllowed(t, l.Text, d)
		}
	})
}

// checkAllowed asserts what an allowed line may not hold, independently of
// the policy table.
func checkAllowed(t *testing.T, s string, d Decision) {
	t.Helper()
	if strings.Contains(strings.ToUpper(strings.ReplaceAll(s, " ", "")), "USECC2C") {
		t.Fatalf("allowed %q, which holds +USECC2C", s)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			t.Fatalf("allowed %q, which holds byte %#x", s, c)
		}
	}
	if p := strings.TrimLeft(s, " "); !strings.HasPrefix(p, "AT") && !strings.HasPrefix(p, "at") {
		t.Fatalf("allowed %q, which does not start with AT or at", s)
	}
	for _, c := range d.Line.Commands {
		write := c.Kind != KindRead && c.Kind != KindTest && c.Kind != KindSRead
		switch c.Name {
		case "S2", "S3", "S4", "S5", "S12", "+IPR", "+ICF", "+IFC", "+CMUX", "+UPSV", "+USIO", "&W", "&K", `\Q`:
			if write {
				t.Fatalf("allowed %q, which sets %s", s, c.Name)
			}
		case "V":
			if c.Arg != "1" {
				t.Fatalf("allowed %q: numeric results", s)
			}
		case "Q":
			if c.Arg != "" && c.Arg != "0" {
				t.Fatalf("allowed %q: results suppressed", s)
			}
		case "+CMEE":
			if write && c.Arg != "0" && c.Arg != "1" && c.Arg != "2" {
				t.Fatalf("allowed %q: untracked +CMEE", s)
			}
		}
	}
	if d.Prompt.Kind != NoPrompt && len(d.Line.Commands) != 1 {
		t.Fatalf("allowed %q: a prompt command not alone", s)
	}
	// The canonical form, which the bridge may forward instead, gets the
	// same verdict.
	again := CheckCommandLine(d.Line.Canonical)
	if again.Err != nil || !reflect.DeepEqual(again, d) {
		t.Fatalf("canonical %q of %q: %+v, want %+v", d.Line.Canonical, s, again, d)
	}
}

// FuzzRedact: Redact returns the line or a prefix of it and "<redacted>";
// a secret-bearing name followed by '=' and an argument cuts the line there,
// whatever comes before or after it.
func FuzzRedact(f *testing.F) {
	for _, s := range commandSeeds {
		f.Add(s, `"1234"`)
	}
	f.Add("AT+CPIX\b", "N=1")
	f.Fuzz(func(t *testing.T, before, arg string) {
		for _, s := range []string{before, before + arg} {
			r := Redact(s)
			if cut, ok := strings.CutSuffix(r, "<redacted>"); r != s && (!ok || !strings.HasPrefix(s, cut)) {
				t.Fatalf("Redact(%q) = %q: neither the line nor a cut of it", s, r)
			}
		}
		if v, _ := redactView(arg, false); strings.HasPrefix(v, "?") || v == "" || v[0] == ';' {
			return // a test form or no argument: kept
		}
		line := before + "+CPIN=" + arg
		if r := Redact(line); len(r) > len(before)+len("+CPIN=")+len("<redacted>") {
			t.Fatalf("Redact(%q) = %q keeps the argument", line, r)
		}
	})
}
