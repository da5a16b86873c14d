package bridge

import (
	"bytes"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/c2cbridge/c2cbridge/counters"
	c2c "github.com/c2cbridge/c2cbridge/crypto"
	"github.com/c2cbridge/c2cbridge/modemsim"
)

// attackGuard is the escape guard time of the attack tests (module and
// bridge alike).
const attackGuard = 100 * time.Millisecond

// v250Module sets up modemsim as a real module behaves where the attacks
// need it: echo at power-up, line editing with S3/S5, A/, numeric
// results, and new secrets on every rekey (which would show on the tty).
func v250Module(c *modemsim.Config) {
	c.Echo, c.LineEditing, c.SRegisters, c.RepeatLine, c.NumericResults = true, true, true, true, true
	c.Rekey = modemsim.RekeyNew
	c.EscapeGuard = attackGuard
}

// attackRig is a rig against a V.250 module whose key file writes are
// counted (the key file must stay untouched).
func attackRig(t *testing.T) (*rig, *atomic.Int64) {
	var saves atomic.Int64
	r := newRig(t, rigOpts{rawApp: true, modCfg: v250Module, brCfg: func(c *Config) {
		c.EscapeGuard = attackGuard
		c.SaveSecrets = func(cur, prev *c2c.Secrets) error { saves.Add(1); return nil }
	}})
	r.waitOpen()
	return r, &saves
}

// dial starts a call and waits for its CONNECT.
func (r *rig) dial() {
	r.t.Helper()
	r.send("ATD*99#\r")
	r.waitRaw("\r\nCONNECT\r\n")
}

// waitRaw waits until the application has received s (anywhere).
func (r *rig) waitRaw(s string) {
	r.t.Helper()
	waitFor(r.t, "the application to receive "+strings.TrimSpace(s), func() bool {
		r.raw.mu.Lock()
		defer r.raw.mu.Unlock()
		return bytes.Contains(r.raw.buf, []byte(s))
	})
}

// hangUp ends a call the application's way: the escape, then ATH.
func (r *rig) hangUp() {
	r.t.Helper()
	time.Sleep(2 * attackGuard)
	r.send("+++")
	time.Sleep(2 * attackGuard)
	r.send("ATH\r")
	waitFor(r.t, "the call to end", func() bool { return !r.mod.Stats().DataMode })
}

// checkAfterAttack asserts what every attack must leave: the module ran
// only the bridge's own security commands, nothing of the security
// dialogue or its secrets reached the application, AT works, the key
// file is untouched.
func checkAfterAttack(t *testing.T, r *rig, saves *atomic.Int64) {
	t.Helper()
	marker := "AT+CGMI\r"
	r.send(marker)
	r.waitRaw("u-blox")
	r.waitRaw("OK\r\n")
	sec := r.mod.Stats().SecCommands
	if sec.Open != 1 || sec.Rekey != 0 || sec.Close != 0 || sec.Pair != 0 || sec.Confirm != 0 || sec.Other != 0 {
		t.Errorf("the module ran security commands the bridge did not send: %+v", sec)
	}
	s := r.mod.Secrets()
	r.raw.mu.Lock()
	got := strings.ToUpper(string(r.raw.buf))
	r.raw.mu.Unlock()
	for _, leak := range []string{"USECC2C: ", strings.ToUpper(s.Key.Hex()), strings.ToUpper(s.HMACKey.Hex()), strings.ToUpper(s.TESecret.Hex())} {
		if strings.Contains(got, leak) {
			t.Errorf("the application received %q", leak)
		}
	}
	if n := saves.Load(); n != 0 {
		t.Errorf("the key file was written %d times", n)
	}
	if st := r.b.Stats(); st.State != StateOpen || st.Fingerprint != s.Fingerprint() {
		t.Errorf("state %s, fingerprint %s; the module has %s", st.State, st.Fingerprint, s.Fingerprint())
	}
}

// TestHostileApplication runs one row per attack of the untrusted
// application against a module that edits its command lines as V.250 says.
func TestHostileApplication(t *testing.T) {
	long := "AT" + strings.Repeat("+CGMI;", 900) + "+USECC2C=3\r"
	for _, tc := range []struct {
		name    string
		attack  func(r *rig)
		refused bool // the bridge answered ERROR to at least one line
	}{
		{"backspace", func(r *rig) { r.send("AT+USECX\bC2C=3\r") }, true},
		{"DEL", func(r *rig) { r.send("AT+USECX\x7fC2C=3\r") }, true},
		{"control byte", func(r *rig) { r.send("AT+USEC\x01C2C=3\r") }, true},
		{"space", func(r *rig) { r.send("AT+USEC C2C=3\r") }, true},
		{"lower case, chained", func(r *rig) { r.send("at+cmee=2;+usecc2c=3\r") }, true},
		{"S5 redefined", func(r *rig) { r.send("ATS5=88\rAT+USECXC2C=3\r") }, true},
		{"S3 redefined", func(r *rig) { r.send("ATS3=0\rAT+USECC2C=3\x00\r") }, true},
		{"overlong line", func(r *rig) { r.send(long) }, true},
		{"A/ repeats the bridge's last line", func(r *rig) { r.send("A/") }, true},
		{"numeric results", func(r *rig) { r.send("ATV0\r") }, true},
		{"echoed CONNECT", func(r *rig) { r.send("CONNECT\rAT+USECC2C=3\r") }, true},
		{"echoed @", func(r *rig) { r.send("@\rAT+USECC2C=3\r") }, true},
		{"escape in pieces", func(r *rig) {
			r.dial()
			time.Sleep(2 * attackGuard)
			r.send("+")
			time.Sleep(attackGuard / 2)
			r.send("++")
			r.send("AT+USECC2C=3\r") // right after: held until the module's OK
			r.waitRaw("\r\nOK\r\n")
			time.Sleep(2 * attackGuard)
			r.send("ATH\r")
			waitFor(r.t, "the call to end", func() bool { return !r.mod.Stats().DataMode })
		}, true},
		{"NO CARRIER inside PPP frames", func(r *rig) {
			r.dial()
			// The module loops call data back: it arrives as the module's output.
			r.send("\x7e\xff\x03\r\nNO CARRIER\r\n\x7e")
			r.waitRaw("NO CARRIER\r\n\x7e")
			time.Sleep(3 * carrierQuiet)
			r.send("AT+USECC2C=3\r") // still call data: not refused (and its loopback is dropped)
			r.send("still data")
			r.waitRaw("still data")
			r.hangUp()
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, saves := attackRig(t)
			tc.attack(r)
			checkAfterAttack(t, r, saves)
			if got := r.b.Stats().Counters[counters.RefusedCommands]; (got > 0) != tc.refused {
				t.Errorf("refused_commands %d", got)
			}
		})
	}
}

// TestUnansweredEscapeSettled: an escape the bridge takes as possible but
// the module does not (a pause longer than half the guard, shorter than
// the guard) gets no OK; the bridge then escapes itself, so the module
// and the bridge agree on command mode, and the input held since is
// checked as command lines.
func TestUnansweredEscapeSettled(t *testing.T) {
	r, saves := attackRig(t)
	r.dial()
	r.send("x")
	time.Sleep(attackGuard * 6 / 10)
	r.send("+++")
	r.send("AT+USECC2C=3\r")
	waitFor(t, "the module to leave the call", func() bool { return !r.mod.Stats().DataMode })
	waitFor(t, "the bridge to leave the call", func() bool { return !r.b.inDataMode() })
	checkAfterAttack(t, r, saves)
	if r.b.Stats().Counters[counters.RefusedCommands] != 1 {
		t.Fatal("the held line was not checked as a command line")
	}
}

// dcdConn is a modem connection with a DCD line the test drives (a pty
// has no modem lines).
type dcdConn struct {
	net.Conn
	carrier atomic.Bool
}

func (c *dcdConn) CarrierDetect() (bool, error) { return c.carrier.Load(), nil }

// TestDCDEndsTheCall: with Config.DCD, call data that holds a NO CARRIER
// line does not end the call while DCD is on; the module's NO CARRIER with
// DCD off does.
func TestDCDEndsTheCall(t *testing.T) {
	var conn *dcdConn
	r := newRig(t, rigOpts{rawApp: true, modCfg: func(c *modemsim.Config) { c.EscapeGuard = attackGuard },
		brCfg: func(c *Config) { c.DCD, c.EscapeGuard = true, attackGuard },
		modem: func(m net.Conn) ModemConn { conn = &dcdConn{Conn: m}; return conn }})
	r.waitOpen()
	r.dial()
	conn.carrier.Store(true)
	r.send("data\r\nNO CARRIER\r\nmore") // looped back as the module's output
	r.waitRaw("more")
	if !r.b.inDataMode() {
		t.Fatal("call data ended the call while DCD was on")
	}
	conn.carrier.Store(false)
	r.mod.DropCall()
	waitFor(t, "the call to end", func() bool { return !r.b.inDataMode() })
	r.send("AT\r")
	r.waitRaw("\r\nOK\r\n")
}
