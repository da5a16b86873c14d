package at

import (
	"errors"
	"strings"
	"testing"
)

// TestCheckCommandLineRefused: one row per command issue 12 names, and the
// ways an application could hide one.
func TestCheckCommandLineRefused(t *testing.T) {
	for _, tc := range []struct {
		in      string
		command string // the refused command's name; "" for the whole line
		cause   error  // the cause a whole-line refusal wraps
	}{
		// +USECC2C anywhere, in any form and any case.
		{`AT+USECC2C=3`, SecurityCommand, nil},
		{`at+usecc2c=1,"00"`, SecurityCommand, nil},
		{`AT+USECC2C?`, SecurityCommand, nil},
		{`AT+USECC2C=?`, SecurityCommand, nil},
		{`AT+CMEE=2;+USECC2C=2`, SecurityCommand, nil},
		{`AT +USEC C2C=3`, SecurityCommand, nil},
		{`ATD+USECC2C=3`, SecurityCommand, nil},
		{`AT+CGDCONT=1,"IP","usec c2c"`, SecurityCommand, nil},
		// S-parameter writes.
		{`ATS2=43`, "S2", nil},
		{`ATS3=88`, "S3", nil},
		{`ATS4=10`, "S4", nil},
		{`ATS5=88`, "S5", nil},
		{`ATS12=1`, "S12", nil},
		{`ATS0=1`, "S0", nil},
		{`ATE0S3=13`, "S3", nil},
		// Format and profile commands outside their tracked forms.
		{`ATE2`, "E", nil},
		{`ATV0`, "V", nil},
		{`ATV`, "V", nil},
		{`ATQ1`, "Q", nil},
		{`ATX5`, "X", nil},
		{`AT&W`, "&W", nil},
		{`AT&W0`, "&W", nil},
		{`AT&Y1`, "&Y", nil},
		{`AT&C0`, "&C", nil},
		{`AT&C`, "&C", nil},
		{`AT&D0`, "&D", nil},
		{`AT&D1`, "&D", nil},
		{`AT&K0`, "&K", nil},
		{`AT&K3`, "&K", nil},
		{`AT\Q0`, `\Q`, nil},
		{`AT+CMEE=3`, "+CMEE", nil},
		{`AT+CMEE=`, "+CMEE", nil},
		{`AT+CMEE`, "+CMEE", nil},
		{`AT+CMEE=02`, "+CMEE", nil},
		{`AT+IPR=9600`, "+IPR", nil},
		{`AT+IPR`, "+IPR", nil},
		{`AT+ICF=3,1`, "+ICF", nil},
		{`AT+IFC=0,0`, "+IFC", nil},
		{`AT+CMUX=0`, "+CMUX", nil},
		{`AT+UPSV=1`, "+UPSV", nil},
		{`AT+USIO=2`, "+USIO", nil},
		{`ATE0;+CSQ;+IPR=115200`, "+IPR", nil},
		// Commands that must end the line, or stand alone.
		{`ATAE0`, "A", nil},
		{`ATO;+CSQ`, "O", nil},
		{`AT+CMGS="123";+CSQ`, "+CMGS", nil},
		{`ATE0+USOWR=0,5`, "+USOWR", nil},
		// Prompts whose length the bridge cannot read.
		{`AT+USOWR=0`, "+USOWR", nil},
		{`AT+USOWR`, "+USOWR", nil},
		{`AT+USOWR=0,05`, "+USOWR", nil},
		{`AT+USOWR=0,"5"`, "+USOWR", nil},
		{`AT+USOWR=0,1234567890`, "+USOWR", nil},
		{`AT+USOST=0,"1.2.3.4",80`, "+USOST", nil},
		{`AT+UDWNFILE="f"`, "+UDWNFILE", nil},
		{`AT+USECMNG=0,0,"ca"`, "+USECMNG", nil},
		{`AT+USECMNG="0",0,"ca",5`, "+USECMNG", nil},
		// Lines the parser refuses.
		{`CONNECT`, "", ErrNotAT},
		{`@`, "", ErrNotAT},
		{`ATV01`, "", ErrSyntax},
		{`AT+CMEE=1V0`, "", ErrSyntax},
		{`AT=0`, "", ErrSyntax},
	} {
		d := CheckCommandLine(tc.in)
		var re *RefusedError
		if !errors.As(d.Err, &re) || !errors.Is(d.Err, ErrRefused) {
			t.Errorf("CheckCommandLine(%q).Err = %v, want a refusal", tc.in, d.Err)
			continue
		}
		if re.Command != tc.command {
			t.Errorf("CheckCommandLine(%q) refused %q, want %q", tc.in, re.Command, tc.command)
		}
		if tc.cause != nil && !errors.Is(d.Err, tc.cause) {
			t.Errorf("CheckCommandLine(%q).Err = %v, want it to wrap %v", tc.in, d.Err, tc.cause)
		}
	}
}

func TestCheckCommandLineAllowed(t *testing.T) {
	on, off := true, false
	for _, tc := range []struct {
		in      string
		echo    *bool
		cmee    int // -1: unchanged
		reset   bool
		unsure  bool
		connect bool
		prompt  Prompt
	}{
		{in: `AT`, cmee: -1},
		{in: `ATI`, cmee: -1},
		{in: `ATI0`, cmee: -1},
		{in: `at+cpin?`, cmee: -1},
		{in: `AT   +CSQ`, cmee: -1},
		{in: `AT+CGDCONT=1,"IP","internet;x"`, cmee: -1},
		{in: `ATH`, cmee: -1},
		{in: `ATE0`, echo: &off, cmee: -1},
		{in: `ATE`, echo: &off, cmee: -1},
		{in: `ATE1`, echo: &on, cmee: -1},
		{in: `ATE0V1&C1&D2`, echo: &off, cmee: -1},
		{in: `ATE1E0`, echo: &off, cmee: -1},
		{in: `ATQ0X4`, cmee: -1},
		{in: `ATX0`, cmee: -1},
		{in: `ATS0=0`, cmee: -1},
		{in: `ATS0=000`, cmee: -1},
		{in: `ATS0?`, cmee: -1},
		{in: `ATS3?`, cmee: -1},
		{in: `ATS12?`, cmee: -1},
		{in: `ATS5`, cmee: -1},
		{in: `ATS7=60`, cmee: -1},
		{in: `AT+CMEE=0`, cmee: 0},
		{in: `AT+CMEE=2`, cmee: 2},
		{in: `AT+CMEE=1;+CMEE=2`, cmee: 2},
		{in: `AT+CMEE?`, cmee: -1},
		{in: `AT+CMEE=?`, cmee: -1},
		{in: `AT+IPR?`, cmee: -1},
		{in: `AT+IPR=?`, cmee: -1},
		{in: `AT+UPSV?`, cmee: -1},
		{in: `ATZ`, reset: true, cmee: -1},
		{in: `ATZ0`, reset: true, cmee: -1},
		{in: `AT&F`, reset: true, cmee: -1},
		{in: `AT&F0`, reset: true, cmee: -1},
		{in: `ATE0Z`, reset: true, cmee: -1},
		{in: `AT+CMEE=2;Z`, reset: true, cmee: -1},
		{in: `ATZ E0 V1`, reset: true, echo: &off, cmee: -1, unsure: true},
		{in: `AT&F+CMEE=2`, reset: true, cmee: 2, unsure: true},
		{in: `ATZE0Z`, reset: true, cmee: -1, unsure: true},
		{in: `AT&C1&D2X4`, cmee: -1},
		{in: `ATD*99#`, cmee: -1, connect: true},
		{in: `ATD*99***1#;`, cmee: -1, connect: true},
		{in: `ATE0D*99#`, echo: &off, cmee: -1, connect: true},
		{in: `ATDT*99#`, cmee: -1, connect: true},
		{in: `ATA`, cmee: -1, connect: true},
		{in: `ATO`, cmee: -1, connect: true},
		{in: `ATO0`, cmee: -1, connect: true},
		{in: `AT+CGDATA="PPP",1`, cmee: -1, connect: true},
		{in: `AT+CGDATA`, cmee: -1, connect: true},
		{in: `AT+CGDATA=?`, cmee: -1},
		{in: `AT+USODL=0`, cmee: -1, connect: true},
		{in: `AT+CMGS="+4412 345"`, cmee: -1, prompt: Prompt{TextPrompt, TextPromptMarker, 0}},
		{in: `AT+CMGS=23`, cmee: -1, prompt: Prompt{TextPrompt, TextPromptMarker, 0}},
		{in: `AT+CMGW`, cmee: -1, prompt: Prompt{TextPrompt, TextPromptMarker, 0}},
		{in: `AT+CMGC=2,1`, cmee: -1, prompt: Prompt{TextPrompt, TextPromptMarker, 0}},
		{in: `AT+CMGS=?`, cmee: -1},
		{in: `AT+USOWR=0,5`, cmee: -1, prompt: Prompt{CountPrompt, SocketPromptMarker, 5}},
		{in: `AT+USOWR=0,5,"hello"`, cmee: -1, prompt: Prompt{CountPrompt, SocketPromptMarker, 5}},
		{in: `AT+USOWR=?`, cmee: -1},
		{in: `AT+USOST=0,"151.9.34.66",449,16`, cmee: -1, prompt: Prompt{CountPrompt, SocketPromptMarker, 16}},
		{in: `AT+UDWNFILE="cert.pem",1024`, cmee: -1, prompt: Prompt{CountPrompt, StreamPromptMarker, 1024}},
		{in: `AT+UDWNFILE="f",10,"USER"`, cmee: -1, prompt: Prompt{CountPrompt, StreamPromptMarker, 10}},
		{in: `AT+UDWNBLOCK="f",0,36,500,"USER"`, cmee: -1, prompt: Prompt{CountPrompt, StreamPromptMarker, 36}},
		{in: `AT+USECMNG=0,0,"ca",1300`, cmee: -1, prompt: Prompt{CountPrompt, StreamPromptMarker, 1300}},
		{in: `AT+USECMNG=0,2,"key",1300,"pw"`, cmee: -1, prompt: Prompt{CountPrompt, StreamPromptMarker, 1300}},
		{in: `AT+USECMNG=3`, cmee: -1},
		{in: `AT+USECMNG=3;+CSQ`, cmee: -1},
	} {
		d := CheckCommandLine(tc.in)
		if d.Err != nil {
			t.Errorf("CheckCommandLine(%q).Err = %v", tc.in, d.Err)
			continue
		}
		e := d.Effects
		if (tc.echo != nil) != e.SetEcho || (tc.echo != nil && *tc.echo != e.Echo) {
			t.Errorf("CheckCommandLine(%q) echo set %v to %v, want %v", tc.in, e.SetEcho, e.Echo, tc.echo)
		}
		if (tc.cmee >= 0) != e.SetCMEE || (tc.cmee >= 0 && tc.cmee != e.CMEE) {
			t.Errorf("CheckCommandLine(%q) CMEE set %v to %d, want %d", tc.in, e.SetCMEE, e.CMEE, tc.cmee)
		}
		if e.Reset != tc.reset || e.Uncertain != tc.unsure {
			t.Errorf("CheckCommandLine(%q) reset %v uncertain %v, want %v %v", tc.in, e.Reset, e.Uncertain, tc.reset, tc.unsure)
		}
		if changed := tc.echo != nil || tc.cmee >= 0 || tc.reset; e.Changed() != changed {
			t.Errorf("CheckCommandLine(%q).Effects.Changed() = %v", tc.in, e.Changed())
		}
		if d.Connect != tc.connect {
			t.Errorf("CheckCommandLine(%q).Connect = %v", tc.in, d.Connect)
		}
		if d.Prompt != tc.prompt {
			t.Errorf("CheckCommandLine(%q).Prompt = %+v, want %+v", tc.in, d.Prompt, tc.prompt)
		}
	}
}

func TestCheckCommandLineEmpty(t *testing.T) {
	for _, in := range []string{"", "   "} {
		d := CheckCommandLine(in)
		if !errors.Is(d.Err, ErrEmptyLine) || errors.Is(d.Err, ErrRefused) {
			t.Errorf("CheckCommandLine(%q).Err = %v, want ErrEmptyLine and no refusal", in, d.Err)
		}
	}
}

func TestCheckLine(t *testing.T) {
	d := CheckLine(Line{Kind: LineOverlong})
	if !errors.Is(d.Err, ErrRefused) || !errors.Is(d.Err, ErrOverlong) {
		t.Errorf("overlong: %v", d.Err)
	}
	d = CheckLine(Line{Kind: LineRepeat, Text: "a/"})
	var re *RefusedError
	if !errors.As(d.Err, &re) || re.Command != "A/" {
		t.Errorf("A/: %v", d.Err)
	}
	if d = CheckLine(Line{Kind: LineCommand, Text: "ATE1"}); d.Err != nil || !d.Effects.SetEcho || !d.Effects.Echo {
		t.Errorf("ATE1: %+v", d)
	}
}

// TestRefusalQuotesNoArgument: a refusal is logged, and arguments may be
// secrets.
func TestRefusalQuotesNoArgument(t *testing.T) {
	for _, in := range []string{
		`AT+CPIN="1234";+IPR=9600`,
		`AT+CPIN=1234X`,
		`AT+CPIN="1234";+USOWR=0,1234`,
		`AT+UDWNFILE="1234",1234567890`,
		`AT+CPIN="1234";+CMGS="1234"`,
	} {
		d := CheckCommandLine(in)
		if d.Err == nil {
			t.Fatalf("%q allowed", in)
		}
		if msg := d.Err.Error(); strings.Contains(msg, "1234") {
			t.Errorf("refusal of %q quotes an argument: %s", in, msg)
		}
	}
}
