package modemsim

import (
	"strings"
	"testing"
	"time"

	c2c "github.com/c2cbridge/c2cbridge/crypto"
)

// step is one exchange of a V.250 script: do (if any) runs on the module,
// send goes to it, then exactly want must come back.
type step struct {
	do   func(*Module)
	send string
	want string
}

// TestV250 runs one script per Config option of the V.250 behaviours, and
// the same inputs without the option (today's simpler module).
func TestV250(t *testing.T) {
	reboot := func(m *Module) { m.Reboot() }
	for _, tc := range []struct {
		name  string
		cfg   Config
		steps []step
	}{
		{"echo at power-up", Config{Echo: true}, []step{
			{send: "AT\r", want: "AT\r\r\nOK\r\n"},
			{send: "ATE0\r", want: "ATE0\r\r\nOK\r\n"},
			{send: "AT\r", want: "\r\nOK\r\n"},
			{send: "ATZ\r", want: "\r\nOK\r\n"},
			{send: "AT\r", want: "AT\r\r\nOK\r\n"},
			{send: "ATE0\r", want: "ATE0\r\r\nOK\r\n"},
			{do: reboot, want: "\r\nRDY\r\n"},
			{send: "AT\r", want: "AT\r\r\nOK\r\n"},
		}},
		{"echo off by default", Config{}, []step{
			{send: "AT\r", want: "\r\nOK\r\n"},
			{do: reboot, want: "\r\nRDY\r\n"},
			{send: "AT\r", want: "\r\nOK\r\n"},
		}},
		{"line editing", Config{LineEditing: true}, []step{
			{send: "AT+CGMX\bI\r", want: "\r\nu-blox\r\n\r\nOK\r\n"},
			{send: "AT+CG\x01M\x1bI\x7f\r", want: "\r\nu-blox\r\n\r\nOK\r\n"},
			{send: "AT + CG MI\r", want: "\r\nu-blox\r\n\r\nOK\r\n"},
			{send: "A T\r", want: "\r\nOK\r\n"},
			{send: "\nAT\n+CGMR\r\n", want: "\r\n03.15\r\n\r\nOK\r\n"},
			{send: `AT+CGDCONT = 1, "IP", "a b"` + "\r", want: "\r\nOK\r\n"},
			{send: "AT+CGDCONT?\r", want: "\r\n+CGDCONT: 1,\"IP\",\"a b\"\r\n\r\nOK\r\n"},
			{send: "AT+CMEE=2;+USEC\x01C2C=2\r", want: "\r\n+CME ERROR: operation not allowed\r\n"},
			{send: "AT+CMEE=2;+USEC C2C=2\r", want: "\r\n+CME ERROR: operation not allowed\r\n"},
			{send: "AT+CMEE=2;+USECX\bC2C=2\r", want: "\r\n+CME ERROR: operation not allowed\r\n"},
		}},
		{"no line editing", Config{}, []step{
			{send: "AT+CGMX\bI\r", want: "\r\nu-blox\r\n\r\nOK\r\n"},
			{send: "AT+CGMX\x7fI\r", want: "\r\nu-blox\r\n\r\nOK\r\n"},
			{send: "AT+CG\x01MI\r", want: "\r\nERROR\r\n"},
			{send: "AT+CG MI\r", want: "\r\nERROR\r\n"},
			{send: "AT+CMEE=2;+USEC C2C=2\r", want: "\r\nERROR\r\n"},
		}},
		{"S-registers", Config{SRegisters: true, LineEditing: true}, []step{
			{send: "ATS3?;S4?;S5?\r", want: "\r\n013\r\n\r\n010\r\n\r\n008\r\n\r\nOK\r\n"},
			{send: "ATS5=88\r", want: "\r\nOK\r\n"},
			{send: "AT+CGMQXI\r", want: "\r\nu-blox\r\n\r\nOK\r\n"},
			{send: "ATS5=8\r", want: "\r\nOK\r\n"},
			// The OK of ATS3 already ends with the new S3.
			{send: "ATS3=33\r", want: "!\nOK!\n"},
			{send: "AT\r", want: ""}, // CR is a control character now
			{send: "!", want: "!\nOK!\n"},
			{send: "AT+CGMI!", want: "!\nu-blox!\n!\nOK!\n"},
			{send: "ATS3=13!", want: "\r\nOK\r\n"},
			{send: "ATS4=0\r", want: "\r\x00OK\r\x00"},
			{send: "ATS4=10;S3=\r", want: "\x00\nOK\x00\n"},
			{send: "ATZ\x00", want: "\r\nOK\r\n"},
			{send: "ATS3?\r", want: "\r\n013\r\n\r\nOK\r\n"},
			{send: "ATS3=128\r", want: "\r\nERROR\r\n"},
			{send: "ATS6=1\r", want: "\r\nERROR\r\n"},
			{send: "ATS3\r", want: "\r\nERROR\r\n"},
			{send: "ATS5=88\r", want: "\r\nOK\r\n"},
			{do: reboot, want: "\r\nRDY\r\n"},
			{send: "ATS5?\r", want: "\r\n008\r\n\r\nOK\r\n"},
		}},
		{"no S-registers", Config{}, []step{
			{send: "ATS3=33\r", want: "\r\nERROR\r\n"},
			{send: "ATS3?\r", want: "\r\nERROR\r\n"},
			{send: "AT\r", want: "\r\nOK\r\n"},
		}},
		{"A/", Config{RepeatLine: true, LineEditing: true}, []step{
			{send: "A/", want: ""}, // nothing to repeat
			{send: "AT+CGMI\r", want: "\r\nu-blox\r\n\r\nOK\r\n"},
			{send: "A/", want: "\r\nu-blox\r\n\r\nOK\r\n"},
			{send: "a/", want: "\r\nu-blox\r\n\r\nOK\r\n"},
			{send: "x\x01A/", want: "\r\nu-blox\r\n\r\nOK\r\n"},
			{send: "AT+CMEE=2;+USECC2C=2\r", want: "\r\n+CME ERROR: operation not allowed\r\n"},
			{send: "A/", want: "\r\n+CME ERROR: operation not allowed\r\n"},
			{send: "ATA/\r", want: "\r\nERROR\r\n"}, // in a line, '/' is no repeat
			{send: "A/", want: "\r\nERROR\r\n"},
			{send: "ATE1\r", want: "\r\nOK\r\n"},
			{send: "A/", want: "A/\r\nOK\r\n"},
			{send: "ATE0\r", want: "ATE0\r\r\nOK\r\n"},
			{do: reboot, want: "\r\nRDY\r\n"},
			{send: "A/", want: ""}, // a reboot forgets the line
			{send: "AT\r", want: "\r\nOK\r\n"},
		}},
		{"no A/", Config{}, []step{
			{send: "AT+CGMI\r", want: "\r\nu-blox\r\n\r\nOK\r\n"},
			{send: "A/", want: ""},
			{send: "\r", want: ""}, // "A/" is a line without AT
			{send: "AT\r", want: "\r\nOK\r\n"},
		}},
		{"ATV0", Config{NumericResults: true, SRegisters: true}, []step{
			{send: "ATV0\r", want: "0\r"},
			{send: "AT\r", want: "0\r"},
			{send: "AT+CGMI\r", want: "u-blox\r\n0\r"},
			{send: "AT+NOPE\r", want: "4\r"},
			{send: "ATO\r", want: "3\r"},
			{send: "AT+TURC=2\r", want: "+CREG: 1\r\n2\r0\r"},
			{send: "AT+CMEE=2;+USECC2C=2\r", want: "+CME ERROR: operation not allowed\r\n"},
			{send: "ATS3=33\r", want: "0!"},
			{send: "AT+CGMI!", want: "u-blox!\n0!"},
			{send: "ATS3=13!", want: "0\r"},
			{send: "ATV1\r", want: "\r\nOK\r\n"},
			{send: "ATV\r", want: "0\r"},
			{send: "ATZ\r", want: "\r\nOK\r\n"},
			{send: "ATV0\r", want: "0\r"},
			{send: "ATD*99#\r", want: "1\r"},
			{do: func(m *Module) { m.DropCall() }, want: "3\r"},
			{do: reboot, want: "\r\nRDY\r\n"},
			{send: "AT\r", want: "\r\nOK\r\n"},
		}},
		{"no ATV0", Config{}, []step{
			{send: "ATV0\r", want: "\r\nERROR\r\n"},
			{send: "ATV1\r", want: "\r\nOK\r\n"},
			{send: "AT\r", want: "\r\nOK\r\n"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, c := start(t, tc.cfg)
			for i, s := range tc.steps {
				if s.do != nil {
					s.do(m)
				}
				c.send(s.send)
				if s.want == "" {
					continue
				}
				if got := string(c.next(plainS, len(s.want))); got != s.want {
					t.Fatalf("step %d: sent %q, got %q, want %q", i, s.send, got, s.want)
				}
			}
			// Nothing else came: the answer to AT+CGMR (and its echo) is
			// next.
			c.send("AT+CGMR\r")
			got := strings.TrimPrefix(c.response(plainS), "AT+CGMR\r")
			if want := "\r\n" + Revision + "\r\n\r\nOK\r\n"; got != want {
				t.Errorf("after the script: got %q, want %q", got, want)
			}
		})
	}
}

// TestChainedSecurity runs AT+USECC2C anywhere in a line, as a module
// does, and counts every one by op.
func TestChainedSecurity(t *testing.T) {
	s := testSecrets(t, c2c.V2)
	m, c := start(t, Config{Secrets: s, Rekey: RekeyNew, LineEditing: true, RepeatLine: true})
	var want SecCounts
	check := func(what string) {
		t.Helper()
		if got := m.Stats().SecCommands; got != want {
			t.Errorf("%s: SecCommands %+v, want %+v", what, got, want)
		}
	}
	for _, tc := range []struct{ cmd, answer string }{
		{"AT+CMEE=2;+USECC2C=2", "\r\n+CME ERROR: operation not allowed\r\n"},
		{"ATE0+USECC2C=3", "\r\n+CME ERROR: operation not allowed\r\n"},
		{"AT+CGMI;+usecc2c=9", "\r\nu-blox\r\n\r\nERROR\r\n"},
		{"AT+USECC2C=", "\r\nERROR\r\n"},
		{"AT+USECC2C=?", "\r\n+USECC2C: (0-4)\r\n\r\nOK\r\n"}, // not a set command
		{`AT+USECC2C=0,"00"`, "\r\n+CME ERROR: operation not allowed\r\n"},
		{`AT+USECC2C=4,"00","00"`, "\r\n+CME ERROR: operation not allowed\r\n"},
	} {
		if got := c.cmd(tc.cmd); got != tc.answer {
			t.Errorf("%s: %q, want %q", tc.cmd, got, tc.answer)
		}
	}
	want = SecCounts{Close: 1, Rekey: 1, Other: 2, Pair: 1, Confirm: 1}
	check("plain")

	m.SetBusy(1)
	if got := c.open(s); got != "\r\n+CME ERROR: SEC busy\r\n" {
		t.Fatalf("busy open: %q", got)
	}
	c.mustOpen(s)
	want.Open += 2
	check("open")

	// In a session, a rekey chained behind another command runs too.
	got := c.end("AT+CMEE=2;+USECC2C=3")
	next, _ := parseKeys(t, got, s.TESecret)
	if ms := m.Secrets(); *ms != *next || next.Key == s.Key {
		t.Fatal("the chained rekey did not issue the announced secrets")
	}
	want.Rekey++
	check("chained rekey")
	// A/ repeats it: refused outside a session, but run and counted.
	c.send("A/")
	if got := c.response(plainS); got != "\r\n+CME ERROR: operation not allowed\r\n" {
		t.Errorf("A/ after the rekey: %q", got)
	}
	want.Rekey++
	check("A/")
	if st := m.Stats(); st.Rekeys != 1 || st.Opens != 1 {
		t.Errorf("stats %+v", st)
	}
	if want.Total() != 10 {
		t.Errorf("Total %d", want.Total())
	}
}

// TestEscapeGuard checks the per-byte escape: a quiet guard time before
// the first '+', each '+' within a guard time of the one before, a quiet
// guard time after, whatever reads the bytes arrive in.
func TestEscapeGuard(t *testing.T) {
	const guard = 200 * time.Millisecond
	const (
		short = 20 * time.Millisecond // well within the guard
		long  = 3 * guard
	)
	type piece struct {
		pause time.Duration // before send
		send  string
	}
	for _, tc := range []struct {
		name   string
		pieces []piece
		escape bool
		looped string // call data that came back
	}{
		{"one write", []piece{{0, "+++"}}, true, ""},
		{"+ pause ++", []piece{{0, "+"}, {short, "++"}}, true, ""},
		{"+ + +", []piece{{0, "+"}, {short, "+"}, {short, "+"}}, true, ""},
		{"++ + after the guard", []piece{{0, "++"}, {long, "+"}}, false, "+++"},
		{"+ ++ after the guard", []piece{{0, "+"}, {long, "++"}}, false, "+++"},
		{"data right after", []piece{{0, "+++"}, {short, "x"}}, false, "+++x"},
		{"data in the same read", []piece{{0, "+++x"}}, false, "+++x"},
		{"data right before", []piece{{0, "a"}, {short, "+++"}}, false, "a+++"},
		{"data in the read before", []piece{{0, "a+"}, {short, "++"}}, false, "a+++"},
		{"four", []piece{{0, "+"}, {short, "+++"}}, false, "++++"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m, c := start(t, Config{EscapeGuard: guard})
			if got := c.cmd("ATD*99#"); got != "\r\nCONNECT\r\n" {
				t.Fatalf("ATD: %q", got)
			}
			time.Sleep(long)
			for _, p := range tc.pieces {
				time.Sleep(p.pause)
				c.send(p.send)
			}
			time.Sleep(long)
			if tc.escape {
				if got := c.response(plainS); got != "\r\nOK\r\n" {
					t.Fatalf("escape: %q", got)
				}
				if got := c.cmd("AT"); got != "\r\nOK\r\n" {
					t.Fatalf("AT after the escape: %q", got)
				}
				if st := m.Stats(); st.Escapes != 1 || st.DataMode || !st.CallUp {
					t.Errorf("stats %+v", st)
				}
				return
			}
			if got := string(c.pending(plainS)); got != tc.looped {
				t.Errorf("looped back %q, want %q", got, tc.looped)
			}
			if st := m.Stats(); st.Escapes != 0 || !st.DataMode {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

// TestRecordReplay records an authentic frame and replays it after the
// module rebooted and the host opened a new session with the same secrets.
func TestRecordReplay(t *testing.T) {
	s := testSecrets(t, c2c.V2)
	m, c := start(t, Config{Secrets: s})
	if m.ReplayRecorded() {
		t.Fatal("ReplayRecorded with nothing recorded")
	}
	c.mustOpen(s)
	m.RecordNextFrame("u-blox")
	if got := c.scmd("AT"); got != "\r\nOK\r\n" {
		t.Fatalf("AT: %q", got)
	}
	if m.ReplayRecorded() {
		t.Fatal("recorded a frame without the text")
	}
	if got := c.scmd("AT+CGMI"); got != "\r\nu-blox\r\n\r\nOK\r\n" {
		t.Fatalf("AT+CGMI: %q", got)
	}
	if got := c.scmd("AT+CGMM"); got != "\r\nSARA-R510M8S\r\n\r\nOK\r\n" {
		t.Fatalf("AT+CGMM: %q", got)
	}
	m.Reboot()
	c.expect(strayS, "\r\nRDY\r\n")
	c.leave()
	c.mustOpen(s)
	_, dup0 := c.counts()
	for i := range 2 {
		if !m.ReplayRecorded() {
			t.Fatal("ReplayRecorded: nothing replayed")
		}
		c.expect(ptS, "\r\nu-blox\r\n\r\nOK\r\n")
		if _, dup := c.counts(); dup != dup0+i+1 {
			t.Errorf("duplicate IVs %d, want %d", dup, dup0+i+1)
		}
	}
	if st := m.Stats(); st.FramesReplayed != 2 || !m.HasEvent("record") {
		t.Errorf("stats %+v, events %v", st, m.Events())
	}
}

// lineState is what a command line leaves in a module, for FuzzCommandLine.
type lineState struct {
	commands       uint64
	sec            SecCounts
	echo, verbose  bool
	s3, s4, s5     byte
	line, lastLine string
	dataMode, busy bool
	held           string
}

// FuzzCommandLine feeds bytes to a module with every V.250 option on, in
// one read and split in two at any offset: no panic, the S-registers stay
// in range, the line within its limit, and the split changes nothing.
func FuzzCommandLine(f *testing.F) {
	for _, s := range []string{
		"AT\r", "ATS3=33\rAT!", "ATS5=88\rAT+CGMQXI\r", "AT+CMEE=2;+USEC\x01C2C=3\r",
		"AT+USECX\bC2C=2\r", "AT + CG MI\r", "AT+CGMI\rA/", "ATV0\rAT\r", "ATD*99#\r+++",
		`AT+CGDCONT=1,"IP","a b"` + "\r", "ATS3=\rAT\x00", "AT+TSLOW=5\rAT\r", "ATE1S4=0\rATI\r",
	} {
		f.Add([]byte(s), uint16(len(s)/2))
	}
	cfg := Config{Echo: true, LineEditing: true, SRegisters: true, RepeatLine: true, NumericResults: true}
	run := func(t *testing.T, parts ...[]byte) lineState {
		m, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		m.mu.Lock()
		defer m.mu.Unlock()
		now := time.Now()
		for _, p := range parts {
			m.receive(p, now)
		}
		return lineState{m.stats.Commands, m.stats.SecCommands, m.echo, m.verbose, m.s3, m.s4, m.s5,
			string(m.line), m.lastLine, m.dataMode, m.busy, string(m.held)}
	}
	f.Fuzz(func(t *testing.T, p []byte, split uint16) {
		if len(p) > 4096 {
			return
		}
		whole := run(t, p)
		if whole.s3 > 127 || whole.s4 > 127 || whole.s5 > 127 || len(whole.line) > maxLine {
			t.Fatalf("state %#v", whole)
		}
		k := int(split) % (len(p) + 1)
		if parts := run(t, p[:k], p[k:]); parts != whole {
			t.Fatalf("split at %d: %#v, whole: %#v", k, parts, whole)
		}
	})
}
