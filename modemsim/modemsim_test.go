package modemsim

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	c2c "github.com/c2cbridge/c2cbridge/crypto"
)

func TestPlainAT(t *testing.T) {
	_, c := start(t, Config{})
	for _, tc := range []struct {
		cmd, want string
	}{
		{"AT", "\r\nOK\r\n"},
		{"at", "\r\nOK\r\n"},
		{"AT+CGMI", "\r\nu-blox\r\n\r\nOK\r\n"},
		{"AT+CGMM", "\r\nSARA-R510M8S\r\n\r\nOK\r\n"},
		{"AT+CGMR", "\r\n03.15\r\n\r\nOK\r\n"},
		{"AT+CSQ", "\r\n+CSQ: 20,99\r\n\r\nOK\r\n"},
		{"ATI", "\r\nManufacturer: u-blox\r\nModel: SARA-R510M8S\r\nRevision: 03.15\r\nIMEI: 004401083500000\r\n\r\nOK\r\n"},
		{"AT+NOPE", "\r\nERROR\r\n"},
		{"ATX5", "\r\nERROR\r\n"},
		{"AT+CGMI=1", "\r\nERROR\r\n"},
		{"AT+CMEE?", "\r\n+CMEE: 0\r\n\r\nOK\r\n"},
		{"AT+CMEE=2;+CGMI", "\r\nu-blox\r\n\r\nOK\r\n"},
		{"AT+CMEE?", "\r\n+CMEE: 2\r\n\r\nOK\r\n"},
		{"AT+CMEE=3", "\r\nERROR\r\n"},
		{"ATE0V1", "\r\nOK\r\n"},
		{"ATH", "\r\nOK\r\n"},
		{"ATO", "\r\nNO CARRIER\r\n"},
		{"AT+CFUN=1", "\r\nOK\r\n"},
		{"AT+CGDCONT?", "\r\nOK\r\n"},
		{`AT+CGDCONT=1,"IP","internet"`, "\r\nOK\r\n"},
		{"AT+CGDCONT?", "\r\n+CGDCONT: 1,\"IP\",\"internet\"\r\n\r\nOK\r\n"},
		{"AT+USECC2C=2", "\r\n+CME ERROR: operation not allowed\r\n"},
		{"AT+CMEE=1", "\r\nOK\r\n"},
		{"AT+USECC2C=3", "\r\n+CME ERROR: 3\r\n"},
		{"AT+CMEE=0", "\r\nOK\r\n"},
		{"AT+USECC2C=2", "\r\nERROR\r\n"},
		{"AT+USECC2C=0,\"00112233445566778899aabbccddeeff\"", "\r\nERROR\r\n"}, // not pairable
		{"AT+TSLOW=1", "\r\nOK\r\n"},
		{"AT+TBIG=5", "\r\n01234\r\n\r\nOK\r\n"},
		{"AT+TURC=2", "\r\n+CREG: 1\r\n\r\nRING\r\n\r\nOK\r\n"},
	} {
		c.send(tc.cmd + "\r")
		if got := string(c.next(plainS, len(tc.want))); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.cmd, got, tc.want)
		}
	}
	// Noise before AT, LF after CR and lines without AT are ignored.
	c.send("\n\r\x00xyz\r\nBAD AT\r\n")
	if got := c.response(plainS); got != "\r\nOK\r\n" {
		t.Errorf("after noise: got %q", got)
	}
	if p := c.pending(plainS); len(p) != 0 {
		t.Errorf("unexpected extra output %q", p)
	}
}

func TestEcho(t *testing.T) {
	_, c := start(t, Config{})
	if got := c.cmd("ATE1"); got != "\r\nOK\r\n" {
		t.Fatalf("ATE1: %q", got)
	}
	c.send("AT\r")
	if got, want := string(c.next(plainS, 9)), "AT\r\r\nOK\r\n"; got != want {
		t.Errorf("echo: got %q, want %q", got, want)
	}
	c.send("ATE0\r")
	if got, want := string(c.next(plainS, 11)), "ATE0\r\r\nOK\r\n"; got != want {
		t.Errorf("ATE0: got %q, want %q", got, want)
	}
	c.send("AT\r")
	if got := string(c.next(plainS, 6)); got != "\r\nOK\r\n" {
		t.Errorf("echo off: got %q", got)
	}
}

func TestPairing(t *testing.T) {
	for _, v := range []c2c.Version{c2c.V1, c2c.V2} {
		t.Run(v.String(), func(t *testing.T) {
			m, c := start(t, Config{Version: v, Pairable: true})
			c.cmd("AT+CMEE=2")
			te := randomSecret(t)
			resp := c.cmd(`AT+USECC2C=0,"` + te.Hex() + `"`)
			s, tag := parseKeys(t, resp, te)
			if got := s.Version(); got != v {
				t.Fatalf("pairing gave %v secrets: %q", got, resp)
			}
			if !strings.HasPrefix(resp, "\r\n+USECC2C: 0,0,\"") || !strings.HasSuffix(resp, "\"\r\n\r\nOK\r\n") {
				t.Errorf("pairing answer %q", resp)
			}
			if ms := m.Secrets(); ms == nil || *ms != *s {
				t.Fatal("module secrets differ from the answer")
			}
			if v == c2c.V1 {
				c.mustOpen(s)
				if got := c.scmd("AT"); got != "\r\nOK\r\n" {
					t.Fatalf("AT in V1 session: %q", got)
				}
				return
			}

			// V2: no open before the confirmation.
			if got := c.open(s); got != "\r\n+CME ERROR: operation not allowed\r\n" {
				t.Fatalf("open before confirmation: %q", got)
			}
			// A wrong tag, and a wrong te_secret, are refused.
			wrong := randomSecret(t)
			enc, err := c2c.SealConfirmation(s, &wrong, rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			if got := c.cmd(`AT+USECC2C=4,"` + te.Hex() + `","` + enc + `"`); got != "\r\nERROR\r\n" {
				t.Errorf("wrong tag: %q", got)
			}
			enc, err = c2c.SealConfirmation(s, &tag, rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			if got := c.cmd(`AT+USECC2C=4,"` + wrong.Hex() + `","` + enc + `"`); got != "\r\nERROR\r\n" {
				t.Errorf("wrong te_secret: %q", got)
			}
			if got := c.cmd(`AT+USECC2C=4,"` + te.Hex() + `","` + strings.ToUpper(enc) + `"`); got != "\r\nOK\r\n" {
				t.Fatalf("confirm: %q", got)
			}
			if got := c.cmd(`AT+USECC2C=4,"` + te.Hex() + `","` + enc + `"`); got != "\r\n+CME ERROR: operation not allowed\r\n" {
				t.Errorf("second confirm: %q", got)
			}
			st := m.Stats()
			if st.Pairings != 1 || st.Confirmations != 1 || !st.Confirmed {
				t.Errorf("stats %+v", st)
			}
			c.mustOpen(s)
			if got := c.scmd("AT+CGMI"); got != "\r\nu-blox\r\n\r\nOK\r\n" {
				t.Fatalf("AT+CGMI in session: %q", got)
			}
			for _, e := range []string{"pair V2", "confirm refused", "confirm", "open"} {
				if !m.HasEvent(e) {
					t.Errorf("no event %q in %v", e, m.Events())
				}
			}
		})
	}
}

func TestPairingRefused(t *testing.T) {
	s := testSecrets(t, c2c.V2)
	m, c := start(t, Config{Secrets: s})
	c.cmd("AT+CMEE=2")
	te := randomSecret(t)
	if got := c.cmd(`AT+USECC2C=0,"` + te.Hex() + `"`); got != "\r\n+CME ERROR: operation not allowed\r\n" {
		t.Errorf("pair on a module that is not pairable: %q", got)
	}
	// SEC busy, twice, then the pairing goes through.
	m.SetPairable(true)
	m.SetBusy(2)
	for range 2 {
		if got := c.cmd(`AT+USECC2C=0,"` + te.Hex() + `"`); got != "\r\n+CME ERROR: SEC busy\r\n" {
			t.Errorf("busy pairing: %q", got)
		}
	}
	if got := c.cmd(`AT+USECC2C=0,"` + te.Hex() + `"`); !strings.HasSuffix(got, "\r\nOK\r\n") {
		t.Errorf("pairing after busy: %q", got)
	}
	if st := m.Stats(); st.BusyAnswers != 2 || st.Pairings != 1 {
		t.Errorf("stats %+v", st)
	}
	// Bad syntax.
	for _, cmd := range []string{`AT+USECC2C=0,"1234"`, `AT+USECC2C=0`, `AT+USECC2C=9`, `AT+USECC2C?`} {
		if got := c.cmd(cmd); got != "\r\nERROR\r\n" {
			t.Errorf("%s: %q", cmd, got)
		}
	}
}

func TestOpen(t *testing.T) {
	s := testSecrets(t, c2c.V2)
	m, c := start(t, Config{Secrets: s})
	wrong := *s
	wrong.TESecret = randomSecret(t)
	if got := c.open(&wrong); got != "\r\nERROR\r\n" {
		t.Errorf("wrong te_secret, CMEE=0: %q", got)
	}
	c.cmd("AT+CMEE=2")
	if got := c.open(&wrong); got != "\r\n+CME ERROR: operation not allowed\r\n" {
		t.Errorf("wrong te_secret: %q", got)
	}
	m.SetBusy(1)
	if got := c.open(s); got != "\r\n+CME ERROR: SEC busy\r\n" {
		t.Errorf("busy open: %q", got)
	}
	c.mustOpen(s)
	if got := c.scmd("AT"); got != "\r\nOK\r\n" {
		t.Fatalf("AT in session: %q", got)
	}
	// A second open inside the session is refused, in a frame.
	if got := c.scmd(`AT+USECC2C=1,"` + s.TESecret.Hex() + `"`); got != "\r\n+CME ERROR: operation not allowed\r\n" {
		t.Errorf("open in session: %q", got)
	}
	st := m.Stats()
	if st.Opens != 1 || !st.InSession || st.PlainBytesInSession != 0 {
		t.Errorf("stats %+v", st)
	}
	if !m.HasEvent("open refused") {
		t.Errorf("no open refused event in %v", m.Events())
	}
}

func TestUnpairedOpen(t *testing.T) {
	_, c := start(t, Config{})
	c.cmd("AT+CMEE=2")
	if got := c.open(testSecrets(t, c2c.V2)); got != "\r\n+CME ERROR: operation not allowed\r\n" {
		t.Errorf("open unpaired: %q", got)
	}
}

// TestSession runs the script every bridge test builds on, in both versions.
func TestSession(t *testing.T) {
	for _, v := range []c2c.Version{c2c.V1, c2c.V2} {
		t.Run(v.String(), func(t *testing.T) {
			guard := 100 * time.Millisecond
			s := testSecrets(t, v)
			m, c := start(t, Config{Secrets: s, EscapeGuard: guard})
			c.mustOpen(s)

			if got := c.scmd("AT"); got != "\r\nOK\r\n" {
				t.Fatalf("AT: %q", got)
			}
			// A command split across frames anywhere.
			c.sendFramed("A")
			c.sendFramed("T+CG")
			c.sendFramed("MI\r")
			if got := c.response(ptS); got != "\r\nu-blox\r\n\r\nOK\r\n" {
				t.Errorf("split command: %q", got)
			}
			// Echo in a session is framed too.
			c.scmd("ATE1")
			if got := c.scmd("AT"); got != "AT\r\r\nOK\r\n" {
				t.Errorf("echo in session: %q", got)
			}
			c.scmd("ATE0")

			// URCs arrive framed, one frame each.
			c.mu.Lock()
			before := len(c.frames)
			c.mu.Unlock()
			if got := c.scmd("AT+TURC=3"); got != "\r\n+CREG: 1\r\n\r\nRING\r\n\r\n+CREG: 1\r\n\r\nOK\r\n" {
				t.Errorf("URCs: %q", got)
			}
			c.mu.Lock()
			if n := len(c.frames) - before; n != 4 {
				t.Errorf("URCs and OK came in %d frames, want 4", n)
			}
			c.mu.Unlock()
			m.SendURC("+UUSORD: 0,12")
			c.expect(ptS, "\r\n+UUSORD: 0,12\r\n")

			// A big answer comes as one frame.
			if got := c.scmd("AT+TBIG=1040"); got != "\r\n"+bigText(1040)+"\r\n\r\nOK\r\n" {
				t.Errorf("TBIG: %d bytes", len(got))
			}
			c.mu.Lock()
			if last := c.frames[len(c.frames)-1]; last != 1040+10 {
				t.Errorf("TBIG frame carries %d bytes, want %d", last, 1040+10)
			}
			c.mu.Unlock()

			// Slow command: bytes sent meanwhile wait their turn.
			c.sendFramed("AT+TSLOW=50\rAT+CGMR\r")
			if got := c.response(ptS); got != "\r\nOK\r\n" {
				t.Errorf("TSLOW: %q", got)
			}
			if got := c.response(ptS); got != "\r\n03.15\r\n\r\nOK\r\n" {
				t.Errorf("after TSLOW: %q", got)
			}

			// Data mode: loop back, then escape.
			if got := c.scmd("ATD*99#"); got != "\r\nCONNECT\r\n" {
				t.Fatalf("ATD: %q", got)
			}
			data := make([]byte, 64<<10)
			rand.Read(data)
			for i := range data {
				if i%c2c.MaxHostPlaintext == 0 && data[i] == '+' {
					data[i] = '-' // no frame starts with '+': see dataInput
				}
			}
			copy(data[1000:], "x+++y+++")
			c.write(c.seal(data))
			if got := c.next(ptS, len(data)); !bytes.Equal(got, data) {
				t.Fatal("data mode: echo differs from data")
			}
			if !m.Stats().DataMode {
				t.Error("not in data mode")
			}
			time.Sleep(2 * guard)
			c.sendFramed("+++")
			if got := c.response(ptS); got != "\r\nOK\r\n" {
				t.Fatalf("escape: %q", got)
			}
			if got := c.scmd("AT"); got != "\r\nOK\r\n" {
				t.Fatalf("AT after escape: %q", got)
			}
			if got := c.scmd("ATO"); got != "\r\nCONNECT\r\n" {
				t.Fatalf("ATO: %q", got)
			}
			c.sendFramed("back")
			c.expect(ptS, "back")
			if !m.DropCall() {
				t.Fatal("DropCall: no call")
			}
			if got := c.response(ptS); got != "\r\nNO CARRIER\r\n" {
				t.Fatalf("drop call: %q", got)
			}

			// Close: OK in a frame, then plain text.
			if got := c.end("AT+USECC2C=2"); got != "\r\nOK\r\n" {
				t.Fatalf("close: %q", got)
			}
			if got := c.cmd("AT+CGMI"); got != "\r\nu-blox\r\n\r\nOK\r\n" {
				t.Fatalf("plain after close: %q", got)
			}
			st := m.Stats()
			if st.InSession || st.Opens != 1 || st.Closes != 1 || st.PlainBytesInSession != 0 ||
				st.MACFailures+st.FCSFailures+st.OtherRejects != 0 || st.Escapes != 1 || st.CallDrops != 1 {
				t.Errorf("stats %+v", st)
			}
			if n, dup := c.counts(); n != 0 || dup != 0 {
				t.Errorf("client saw %d rejects, %d duplicate IVs", n, dup)
			}
		})
	}
}

func TestPlainDataMode(t *testing.T) {
	guard := 100 * time.Millisecond
	_, c := start(t, Config{EscapeGuard: guard})
	if got := c.cmd("ATD*99#"); got != "\r\nCONNECT\r\n" {
		t.Fatalf("ATD: %q", got)
	}
	data := make([]byte, 256)
	for i := range data {
		data[i] = byte(i)
	}
	c.write(data)
	if got := c.next(plainS, len(data)); !bytes.Equal(got, data) {
		t.Fatalf("echo: %q", got)
	}
	// "+++" with no quiet time before it is data.
	c.send("a+++")
	c.expect(plainS, "a+++")
	// A lone '+' after a quiet time is held back, then looped back.
	time.Sleep(2 * guard)
	c.send("+")
	if got := string(c.next(plainS, 1)); got != "+" {
		t.Fatalf("lone plus: %q", got)
	}
	time.Sleep(2 * guard)
	c.send("+++")
	if got := c.response(plainS); got != "\r\nOK\r\n" {
		t.Fatalf("escape: %q", got)
	}
	if got := c.cmd("ATH"); got != "\r\nOK\r\n" {
		t.Fatalf("ATH: %q", got)
	}
	if got := c.cmd("ATO"); got != "\r\nNO CARRIER\r\n" {
		t.Fatalf("ATO after ATH: %q", got)
	}
}

func TestRekey(t *testing.T) {
	for _, tc := range []struct {
		v    c2c.Version
		mode RekeyMode
	}{{c2c.V2, RekeySame}, {c2c.V2, RekeyNew}, {c2c.V1, RekeyNew}} {
		t.Run(tc.v.String()+"/"+string(tc.mode), func(t *testing.T) {
			s := testSecrets(t, tc.v)
			m, c := start(t, Config{Secrets: s, Rekey: tc.mode})
			c.mustOpen(s)
			got := c.end("AT+USECC2C=3")
			if tc.mode == RekeySame {
				if got != "\r\nOK\r\n" {
					t.Fatalf("rekey same: %q", got)
				}
				if ms := m.Secrets(); *ms != *s {
					t.Error("secrets changed")
				}
				c.mustOpen(s)
				if got := c.scmd("AT"); got != "\r\nOK\r\n" {
					t.Fatalf("AT after rekey: %q", got)
				}
				if !m.HasEvent("rekey same") {
					t.Errorf("events %v", m.Events())
				}
				return
			}
			if !strings.HasPrefix(got, "\r\n+USECC2C: 3,0,\"") || !strings.HasSuffix(got, "\"\r\n\r\nOK\r\n") {
				t.Fatalf("rekey new: %q", got)
			}
			next, _ := parseKeys(t, got, s.TESecret)
			if next.Version() != tc.v || next.Key == s.Key {
				t.Fatalf("new secrets: %v", next)
			}
			if ms := m.Secrets(); *ms != *next {
				t.Fatal("module secrets are not the announced ones")
			}
			// The open only checks te_secret, so it succeeds with the old
			// secrets; the old key then fails authentication.
			c.mustOpen(s)
			c.sendFramed("AT\r")
			waitStats(t, m, func(st Stats) bool { return st.MACFailures >= 1 })
			// With the new key the same session works.
			c.resume(next)
			if got := c.scmd("AT"); got != "\r\nOK\r\n" {
				t.Fatalf("AT with the new key: %q", got)
			}
			if got := c.end("AT+USECC2C=2"); got != "\r\nOK\r\n" {
				t.Fatalf("close: %q", got)
			}
			c.mustOpen(next)
			if got := c.scmd("AT"); got != "\r\nOK\r\n" {
				t.Fatalf("AT in the next session: %q", got)
			}
			if st := m.Stats(); st.Rekeys != 1 || st.Opens != 3 || st.PlainBytesInSession != 0 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

func TestPlainBytesInSession(t *testing.T) {
	s := testSecrets(t, c2c.V2)
	m, c := start(t, Config{Secrets: s})
	c.mustOpen(s)
	attack := "AT+CFUN=16\r"
	c.send(attack)
	waitStats(t, m, func(st Stats) bool { return st.PlainBytesInSession == uint64(len(attack)) })
	// A frame sealed with another key: authentication fails.
	other := testSecrets(t, c2c.V2)
	other.TESecret = s.TESecret
	forged, _ := codecs(t, other)
	f, err := forged.Seal(nil, []byte("AT+CFUN=16\r"))
	if err != nil {
		t.Fatal(err)
	}
	c.write(f)
	waitStats(t, m, func(st Stats) bool { return st.MACFailures == 1 })
	// A frame with a broken FCS.
	good := c.seal([]byte("AT+CFUN=16\r"))
	good[len(good)-2] ^= 0xFF
	c.write(good)
	waitStats(t, m, func(st Stats) bool { return st.FCSFailures == 1 })
	// A host frame beyond 255 bytes of plaintext is refused.
	big, err := c2c.NewSealer(s, rand.Reader, 300)
	if err != nil {
		t.Fatal(err)
	}
	f, err = big.SealFrame(nil, bytes.Repeat([]byte("A"), 300))
	if err != nil {
		t.Fatal(err)
	}
	c.write(f)
	waitStats(t, m, func(st Stats) bool { return st.OtherRejects >= 1 })

	if got := c.scmd("AT"); got != "\r\nOK\r\n" {
		t.Fatalf("AT after the attacks: %q", got)
	}
	st := m.Stats()
	if st.Reboots != 0 || !st.InSession || st.Commands != 2 { // the open and AT
		t.Errorf("plain or forged bytes were executed: %+v", st)
	}
	if p := c.pending(strayS); len(p) != 0 {
		t.Errorf("module sent plain bytes in the session: %q", p)
	}
}

func TestOutputFaults(t *testing.T) {
	s := testSecrets(t, c2c.V2)
	m, c := start(t, Config{Secrets: s, FaultSeed: 1})
	c.mustOpen(s)

	t.Run("inject", func(t *testing.T) {
		m.InjectPlain([]byte("\r\nRING\r\n"))
		c.expect(strayS, "\r\nRING\r\n")
		if got := c.scmd("AT"); got != "\r\nOK\r\n" {
			t.Fatalf("AT: %q", got)
		}
	})
	t.Run("replay", func(t *testing.T) {
		if got := c.scmd("AT+CGMI"); got != "\r\nu-blox\r\n\r\nOK\r\n" {
			t.Fatalf("AT+CGMI: %q", got)
		}
		_, dup0 := c.counts()
		if !m.ReplayFrame() {
			t.Fatal("ReplayFrame: nothing to replay")
		}
		c.expect(ptS, "\r\nu-blox\r\n\r\nOK\r\n")
		if _, dup := c.counts(); dup != dup0+1 {
			t.Errorf("duplicate IVs %d, want %d", dup, dup0+1)
		}
	})
	for _, f := range []Faults{{FlipOut: 0.002}, {DropOut: 0.002}} {
		t.Run(faultName(f), func(t *testing.T) {
			rej0, _ := c.counts()
			st0 := m.Stats()
			out0 := st0.BytesOut + st0.BytesDroppedOut
			m.SetFaults(f)
			const n = 20
			for range n {
				c.sendFramed("AT+TBIG=1000\r")
			}
			want := out0 + uint64(n*c2c.FrameLen(c2c.V2, 1010))
			waitStats(t, m, func(st Stats) bool { return st.BytesOut+st.BytesDroppedOut >= want })
			m.SetFaults(Faults{})
			c.wait("rejects", func() bool { return len(c.rejects) > rej0 })
			st := m.Stats()
			if st.BitsFlippedOut+st.BytesDroppedOut == 0 {
				t.Errorf("no fault applied: %+v", st)
			}
			// The line recovers.
			c.skip(ptS)
			c.sendFramed("AT+CGMR\r")
			c.expect(ptS, "\r\n03.15\r\n\r\nOK\r\n")
		})
	}
	t.Run("input", func(t *testing.T) {
		m.SetFaults(Faults{FlipIn: 0.01})
		for range 50 {
			c.sendFramed("AT\r")
		}
		waitStats(t, m, func(st Stats) bool { return st.BitsFlippedIn > 0 })
		m.SetFaults(Faults{})
		waitStats(t, m, func(st Stats) bool { return st.FCSFailures+st.MACFailures+st.OtherRejects > 0 })
		c.skip(ptS)
		c.sendFramed("AT+CGMM\r")
		c.expect(ptS, "\r\nSARA-R510M8S\r\n\r\nOK\r\n")
	})
}

func faultName(f Faults) string {
	if f.FlipOut > 0 {
		return "flip"
	}
	return "drop"
}

func TestReboot(t *testing.T) {
	s := testSecrets(t, c2c.V2)
	m, c := start(t, Config{Secrets: s, RebootDelay: 20 * time.Millisecond})
	c.cmd("AT+CMEE=2")
	c.mustOpen(s)
	m.Reboot()
	c.expect(strayS, "\r\nRDY\r\n")
	st := m.Stats()
	if st.InSession || st.Reboots != 1 {
		t.Errorf("stats after Reboot %+v", st)
	}
	c.leave()
	if got := c.cmd("AT+CMEE?"); got != "\r\n+CMEE: 0\r\n\r\nOK\r\n" {
		t.Errorf("AT+CMEE after reboot: %q", got)
	}
	// AT+CFUN=16 in a session: OK in a frame, then plain RDY.
	c.mustOpen(s)
	if got := c.scmd("AT+CFUN=16"); got != "\r\nOK\r\n" {
		t.Fatalf("AT+CFUN=16: %q", got)
	}
	c.expect(strayS, "\r\nRDY\r\n")
	c.leave()
	if got := c.cmd("AT"); got != "\r\nOK\r\n" {
		t.Fatalf("AT after CFUN reboot: %q", got)
	}
	if st := m.Stats(); st.Reboots != 2 || st.InSession || !st.Paired {
		t.Errorf("stats %+v", st)
	}
}

func TestServeEnds(t *testing.T) {
	t.Run("context", func(t *testing.T) {
		m, err := New(Config{})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		a, b := net.Pipe()
		defer b.Close()
		ctx, cancel := context.WithCancel(context.Background())
		served := make(chan error, 1)
		go func() { served <- m.Serve(ctx, a) }()
		// Output nobody reads: the writer blocks.
		b.Write([]byte("AT+TBIG=100000\r"))
		waitStats(t, m, func(st Stats) bool { return st.Commands == 1 })
		if err := m.Serve(ctx, a); !errors.Is(err, ErrServing) {
			t.Errorf("second Serve: %v", err)
		}
		cancel()
		select {
		case err := <-served:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(hang):
			t.Fatal("Serve did not return")
		}
		// The state persists: serve again on another line.
		a2, b2 := net.Pipe()
		c := newClient(t, b2)
		ctx2, cancel2 := context.WithCancel(context.Background())
		defer cancel2()
		go func() { served <- m.Serve(ctx2, a2) }()
		if got := c.cmd("AT"); got != "\r\nOK\r\n" {
			t.Errorf("AT on the second line: %q", got)
		}
		m.Close()
		if err := <-served; !errors.Is(err, ErrClosed) {
			t.Errorf("Serve after Close: %v", err)
		}
		if err := m.Serve(ctx2, a2); !errors.Is(err, ErrClosed) {
			t.Errorf("Serve on a closed module: %v", err)
		}
	})
	t.Run("eof", func(t *testing.T) {
		m, err := New(Config{})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		a, b := net.Pipe()
		served := make(chan error, 1)
		go func() { served <- m.Serve(context.Background(), a) }()
		b.Close()
		select {
		case err := <-served:
			if !errors.Is(err, io.EOF) {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(hang):
			t.Fatal("Serve did not return")
		}
	})
}

func TestBaud(t *testing.T) {
	s := testSecrets(t, c2c.V2)
	m, c := start(t, Config{Secrets: s, Baud: 115200})
	c.mustOpen(s)
	if got := c.scmd("AT+TBIG=2000"); !strings.HasSuffix(got, "\r\nOK\r\n") {
		t.Fatalf("TBIG at 115200: %d bytes", len(got))
	}
	m.SetBaud(0)
	if got := c.scmd("AT"); got != "\r\nOK\r\n" {
		t.Fatalf("AT: %q", got)
	}
}

func TestNewRejects(t *testing.T) {
	for _, cfg := range []Config{
		{Version: 3},
		{Rekey: "sometimes"},
		{Baud: -1},
		{MaxFrame: -5},
		{MaxFrame: 1 << 20},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
}

func TestFaultStream(t *testing.T) {
	m, err := New(Config{FaultSeed: 7})
	if err != nil {
		t.Fatal(err)
	}
	rng := m.faults.rng
	p := make([]byte, 100000)
	all := faultStream{rate: 1, skip: -1}
	if n := all.flip(p, rng); n != uint64(len(p)) {
		t.Errorf("rate 1 flipped %d of %d", n, len(p))
	}
	half := faultStream{rate: 0.5, skip: -1}
	q, n := half.drop(bytes.Repeat([]byte{1}, 100000), rng)
	if n < 45000 || n > 55000 || len(q) != 100000-int(n) {
		t.Errorf("rate 0.5 dropped %d, kept %d", n, len(q))
	}
	none := faultStream{rate: 0, skip: -1}
	if q, n := none.drop(p, rng); n != 0 || len(q) != len(p) {
		t.Error("rate 0 dropped bytes")
	}
}
