//go:build linux

package main

// End-to-end tests of a hostile application on the bridge's virtual tty,
// against a module that behaves as V.250 says (echo at power-up, line
// editing with S3/S5, A/, numeric results, new secrets on every rekey,
// which would show on the tty): each attack of bridge/attack_test.go, on
// real ptys, with the same assertions.

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/c2cbridge/c2cbridge/modemsim"
)

// e2eV250 sets up modemsim as a real module behaves where the attacks need
// it.
func e2eV250(c *modemsim.Config) {
	c.Echo, c.LineEditing, c.SRegisters, c.RepeatLine, c.NumericResults = true, true, true, true, true
	c.Rekey = modemsim.RekeyNew
}

// e2ePPPQuiet is longer than the bridge's wait for a PPP flag after a
// NO CARRIER that follows one (carrierQuiet in bridge/stream.go).
const e2ePPPQuiet = 300 * time.Millisecond

// hostile is the attacking application: it keeps every byte it read.
type hostile struct {
	t   *testing.T
	r   *rig
	a   *app
	got []byte // everything read from the tty
}

// send writes s to the tty.
func (h *hostile) send(s string) {
	h.t.Helper()
	h.a.write([]byte(s))
}

// readTo reads up to and including the next s.
func (h *hostile) readTo(s string) {
	h.t.Helper()
	msg := h.a.readUntil(strings.TrimSpace(s), func(buf []byte) int {
		if i := bytes.Index(buf, []byte(s)); i >= 0 {
			return i + len(s)
		}
		return -1
	})
	h.got = append(h.got, msg...)
}

// refused sends s and reads its answer: it must be the bridge's ERROR.
func (h *hostile) refused(s string) {
	h.t.Helper()
	h.send(s)
	msg := h.a.readUntil("the answer to "+strings.TrimSpace(string(clip([]byte(s)))), finalResultEnd)
	h.got = append(h.got, msg...)
	if !bytes.HasSuffix(msg, []byte("\r\nERROR\r\n")) {
		h.t.Errorf("%q was answered %q, not refused", clip([]byte(s)), msg)
	}
}

// dial starts a call and reads its CONNECT.
func (h *hostile) dial() {
	h.t.Helper()
	h.send("ATD*99#\r")
	h.readTo("\r\nCONNECT\r\n")
}

// hangUp ends the call the application's way: the escape, then ATH.
func (h *hostile) hangUp() {
	h.t.Helper()
	time.Sleep(2 * e2eEscapeGuard)
	h.send("+++")
	h.readTo(answerOK)
	h.send("ATH\r")
	h.readTo(answerOK)
	h.r.waitModem(h.t, "the call to end", func(st modemsim.Stats) bool { return !st.DataMode && !st.CallUp })
}

// TestE2EHostileApplication runs one row per attack of an application
// that is not trusted; after each, the module has run no security command
// the bridge did not send, the application has read no +USECC2C answer
// nor secret, AT answers OK in the same session, and the key file is
// byte for byte what it was.
func TestE2EHostileApplication(t *testing.T) {
	long := "AT" + strings.Repeat("+CGMI;", 900) + "+USECC2C=3\r"
	rows := []struct {
		name   string
		attack func(h *hostile)
	}{
		{"backspace", func(h *hostile) { h.refused("AT+USECX\bC2C=3\r") }},
		{"DEL", func(h *hostile) { h.refused("AT+USECX\x7fC2C=3\r") }},
		{"control byte", func(h *hostile) { h.refused("AT+USEC\x01C2C=3\r") }},
		{"space", func(h *hostile) { h.refused("AT+USEC C2C=3\r") }},
		{"lower case, chained", func(h *hostile) { h.refused("at+cmee=2;+usecc2c=3\r") }},
		{"S5 redefined", func(h *hostile) {
			h.refused("ATS5=88\r")
			h.send("AT+USECXC2C=3\r") // forwarded: an unknown command to the module
			h.readTo("\r\nERROR\r\n")
		}},
		{"S3 redefined", func(h *hostile) {
			h.refused("ATS3=0\r")
			h.refused("AT+USECC2C=3\x00\r")
		}},
		{"overlong line", func(h *hostile) { h.refused(long) }},
		{"A/ repeats the bridge's last line", func(h *hostile) { h.refused("A/") }},
		{"numeric results", func(h *hostile) { h.refused("ATV0\r") }},
		{"echoed CONNECT", func(h *hostile) {
			h.refused("CONNECT\r")
			h.refused("AT+USECC2C=3\r")
		}},
		{"echoed @", func(h *hostile) {
			h.refused("@\r")
			h.refused("AT+USECC2C=3\r")
		}},
		{"escape in pieces", func(h *hostile) {
			h.dial()
			time.Sleep(2 * e2eEscapeGuard)
			h.send("+")
			time.Sleep(e2eEscapeGuard / 2)
			h.send("++")
			h.send("AT+USECC2C=3\r") // right after: held until the module's OK, then checked
			h.readTo(answerOK)
			h.readTo("\r\nERROR\r\n")
			h.send("ATH\r")
			h.readTo(answerOK)
			h.r.waitModem(h.t, "the call to end", func(st modemsim.Stats) bool { return !st.DataMode && !st.CallUp })
		}},
		{"escape after a lone +", func(h *hostile) {
			h.dial()
			time.Sleep(2 * e2eEscapeGuard)
			h.send("+") // too few for an escape: call data, looped back
			h.readTo("+")
			time.Sleep(2 * e2eEscapeGuard)
			h.send("+++") // an escape, quiet before and after
			h.readTo(answerOK)
			h.refused("AT+USECC2C=3\r") // command mode: checked
			h.send("ATH\r")
			h.readTo(answerOK)
			h.r.waitModem(h.t, "the call to end", func(st modemsim.Stats) bool { return !st.DataMode && !st.CallUp })
		}},
		{"+++ the module takes as call data", func(h *hostile) {
			h.dial()
			h.send("x")
			h.readTo("x")
			// Quiet for the bridge's idea of the guard (half of it), not
			// for the module's: the module loops the +++ back as call data
			// (or, if a loaded machine made the pause a guard time, takes
			// it as an escape and answers OK). The bridge gets no OK in the
			// first case and escapes itself: the module ends in command
			// mode either way, and what follows is checked.
			time.Sleep(e2eEscapeGuard * 6 / 10)
			h.send("+++")
			h.got = append(h.got, h.a.readUntil("the looped-back +++ or an OK", func(buf []byte) int {
				for _, s := range []string{"+++", answerOK} {
					if i := bytes.Index(buf, []byte(s)); i >= 0 {
						return i + len(s)
					}
				}
				return -1
			})...)
			h.r.waitModem(h.t, "the module to leave data mode", func(st modemsim.Stats) bool { return !st.DataMode })
			h.refused("AT+USECC2C=3\r")
			h.send("ATH\r")
			h.readTo(answerOK)
			h.r.waitModem(h.t, "the call to end", func(st modemsim.Stats) bool { return !st.DataMode && !st.CallUp })
		}},
		{"NO CARRIER inside PPP frames", func(h *hostile) {
			h.dial()
			// The module loops call data back: it arrives as the module's output.
			h.send("\x7e\xff\x03\r\nNO CARRIER\r\n\x7e")
			h.readTo("NO CARRIER\r\n\x7e")
			time.Sleep(e2ePPPQuiet)
			h.send("AT+USECC2C=3\r") // still call data: looped back, its +USECC2C dropped
			h.send("still data")
			h.readTo("still data")
			h.hangUp()
		}},
		{"NO CARRIER after the last PPP frame", func(h *hostile) {
			h.dial()
			h.send("\x7e\xff\x03data\x7e")
			h.readTo("\x7e\xff\x03data\x7e")
			if !h.r.mod.DropCall() {
				h.t.Fatal("modemsim: no call to drop")
			}
			h.readTo("\r\nNO CARRIER\r\n")
			time.Sleep(e2ePPPQuiet)
			h.refused("AT+USECC2C=3\r") // command mode again: checked
		}},
	}
	for _, v := range e2eVersions {
		t.Run(v.String(), func(t *testing.T) {
			for _, row := range rows {
				t.Run(row.name, func(t *testing.T) {
					r := newRigWith(t, v, e2eV250)
					r.startBridge(t)
					keys, err := os.ReadFile(r.keyFile)
					if err != nil {
						t.Fatal(err)
					}
					before := r.stats()
					h := &hostile{t: t, r: r, a: openApp(t, r.ttyLink)}
					row.attack(h)
					checkAfterHostile(h, before, keys)
				})
			}
		})
	}
}

// checkAfterHostile asserts what every attack must leave: the module ran
// no security command since before (the bridge sends none meanwhile),
// nothing of the security dialogue or its secrets reached the application,
// AT works in the same session, the key file holds keys.
func checkAfterHostile(h *hostile, before modemsim.Stats, keys []byte) {
	t := h.t
	t.Helper()
	h.send("AT+CGMI\r")
	h.readTo(answerCGMI)
	h.send("AT\r")
	h.readTo(answerOK)
	st := h.r.stats()
	if st.SecCommands != before.SecCommands {
		t.Errorf("the module ran security commands the bridge did not send: %+v, before the attack %+v", st.SecCommands, before.SecCommands)
	}
	if !st.InSession || st.Opens != before.Opens || st.Rekeys != before.Rekeys {
		t.Errorf("module: in session %v, opens %d, rekeys %d; before the attack %d, %d", st.InSession, st.Opens, st.Rekeys, before.Opens, before.Rekeys)
	}
	s := h.r.mod.Secrets()
	got := strings.ToUpper(string(h.got))
	for _, leak := range []string{"USECC2C: ", strings.ToUpper(s.Key.Hex()), strings.ToUpper(s.TESecret.Hex()), strings.ToUpper(s.HMACKey.Hex())} {
		if leak != "" && strings.Contains(got, leak) {
			t.Errorf("the application read %q", leak)
		}
	}
	if now, err := os.ReadFile(h.r.keyFile); err != nil || !bytes.Equal(now, keys) {
		t.Errorf("the key file changed (read error %v)", err)
	}
}
