//go:build linux

package main

// End-to-end tests with the bridge in this process (runBridge) and real
// ptys on both sides:
//
//	application ↔ pty (ptyside) ↔ bridge ↔ pty ↔ modemsim

import (
	"bytes"
	"crypto/rand"
	"strconv"
	"strings"
	"testing"
	"time"

	c2c "github.com/c2cbridge/c2cbridge/crypto"
	"github.com/c2cbridge/c2cbridge/modemsim"
)

const (
	answerOK   = "\r\nOK\r\n"
	answerCGMI = "\r\nu-blox\r\n\r\nOK\r\n"
)

// bigAnswerText is the line AT+TBIG=n answers: n printable characters, the
// alphabet of modemsim over and over.
func bigAnswerText(n int) string {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	return strings.Repeat(alphabet, n/len(alphabet)+1)[:n]
}

// checkCleanSession fails t unless the module has seen one session, still
// open, and no byte outside a frame or any rejected frame from the bridge.
func checkCleanSession(t *testing.T, st modemsim.Stats) {
	t.Helper()
	if !st.InSession || st.Opens != 1 || st.Closes != 0 {
		t.Errorf("module: InSession %v, Opens %d, Closes %d; want one session, still open", st.InSession, st.Opens, st.Closes)
	}
	if st.PlainBytesInSession != 0 {
		t.Errorf("module: PlainBytesInSession = %d, want 0: the bridge sent bytes outside a frame", st.PlainBytesInSession)
	}
	if st.MACFailures+st.FCSFailures+st.OtherRejects != 0 {
		t.Errorf("module rejected frames of the bridge: MAC %d, FCS %d, other %d", st.MACFailures, st.FCSFailures, st.OtherRejects)
	}
}

// TestE2EATExchanges runs AT commands from an application through the
// bridge: answers, errors, unsolicited result codes in frames of their own
// and a 1040-byte frame all arrive whole and in order, and the bridge never
// sends the module a byte outside a frame.
func TestE2EATExchanges(t *testing.T) {
	big := bigAnswerText(1040)
	tests := []struct {
		name   string
		line   string
		want   string
		frames uint64 // frames the module sends for the answer
	}{
		{"AT", "AT", answerOK, 1},
		{"manufacturer", "AT+CGMI", answerCGMI, 1},
		{"identification", "ATI", "\r\nManufacturer: u-blox\r\nModel: SARA-R510M8S\r\nRevision: 03.15\r\nIMEI: 004401083500000\r\n\r\nOK\r\n", 1},
		{"chained commands", "AT+CMEE=2;+CGMM", "\r\nSARA-R510M8S\r\n\r\nOK\r\n", 1},
		{"unknown command", "AT+NOPE", "\r\nERROR\r\n", 1},
		{"three unsolicited result codes", "AT+TURC=3", "\r\n+CREG: 1\r\n\r\nRING\r\n\r\n+CREG: 1\r\n\r\nOK\r\n", 4},
		{"1040-byte frame", "AT+TBIG=1040", "\r\n" + big + "\r\n\r\nOK\r\n", 1},
		{"AT after all that", "AT", answerOK, 1},
	}
	for _, v := range e2eVersions {
		t.Run(v.String(), func(t *testing.T) {
			r := newRig(t, v)
			r.startBridge(t)
			a := openApp(t, r.ttyLink)
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					a.t = t
					before := r.stats().FramesOut
					a.expectCommand(tt.line, tt.want)
					if got := r.stats().FramesOut - before; got != tt.frames {
						t.Errorf("%s: the module sent %d frames, want %d", tt.line, got, tt.frames)
					}
				})
			}
			checkCleanSession(t, r.stats())
		})
	}
}

// TestE2EDataModeEcho dials (ATD*99# -> CONNECT) and sends a 16 MiB random
// binary stream that the module loops back: every byte comes back, in
// order; then the +++ escape returns to command mode.
func TestE2EDataModeEcho(t *testing.T) {
	if testing.Short() {
		t.Skip("16 MiB through the bridge and back: skipped in -short mode")
	}
	const size = 16 << 20
	for _, v := range e2eVersions {
		t.Run(v.String(), func(t *testing.T) {
			r := newRig(t, v)
			r.startBridge(t)
			a := openApp(t, r.ttyLink)
			a.expectCommand("ATD*99#", "\r\nCONNECT\r\n")

			data := make([]byte, size)
			rand.Read(data)
			// A few seconds under -race on two cores; the guard leaves
			// room for a loaded machine.
			a.guard = 2 * hangGuard
			if err := a.f.SetWriteDeadline(time.Now().Add(a.guard)); err != nil {
				t.Fatal(err)
			}
			wrote := make(chan error, 1)
			go func() {
				_, err := a.f.Write(data)
				wrote <- err
			}()
			got := a.readN("the looped-back stream", size)
			if err := <-wrote; err != nil {
				t.Fatalf("application: write the stream: %v", err)
			}
			a.guard = hangGuard
			if !bytes.Equal(got, data) {
				i := 0
				for i < size && got[i] == data[i] {
					i++
				}
				t.Fatalf("the looped-back stream differs from byte %d on: got %x, want %x",
					i, got[i:min(i+16, size)], data[i:min(i+16, size)])
			}

			// Escape: a quiet guard time, "+++", another guard time.
			time.Sleep(2 * e2eEscapeGuard)
			a.write([]byte("+++"))
			if got := string(a.readUntil("the OK of the escape", finalResultEnd)); got != answerOK {
				t.Fatalf("+++: answer %q, want %q", clip([]byte(got)), answerOK)
			}
			a.expectCommand("ATH", answerOK)
			a.expectCommand("AT+CGMI", answerCGMI)

			st := r.stats()
			checkCleanSession(t, st)
			if st.Connects != 1 || st.Escapes != 1 || st.DataMode {
				t.Errorf("module: Connects %d, Escapes %d, DataMode %v; want one call, escaped", st.Connects, st.Escapes, st.DataMode)
			}
		})
	}
}

// TestE2EReopen closes and reopens the virtual tty mid-session, as chat
// followed by pppd does: every new application is answered, the session
// stays the one it was, and output produced while no application is there
// is dropped, never handed to the next one.
func TestE2EReopen(t *testing.T) {
	const reopens = 5
	for _, v := range e2eVersions {
		t.Run(v.String(), func(t *testing.T) {
			r := newRig(t, v)
			tty := r.startBridge(t)
			for range reopens {
				a := openApp(t, r.ttyLink)
				a.expectCommand("AT", answerOK)
				a.expectCommand("AT+CGMI", answerCGMI)
				a.close()
			}

			// A URC while nobody has the tty open is dropped...
			waitUntil(t, "the bridge to see the application leave", func() bool { return !tty.Attached() })
			const urc = "\r\n+STALE: 1\r\n"
			dropped := tty.Dropped()
			r.mod.SendURC(strings.TrimSpace(urc))
			waitUntil(t, "the bridge to drop the URC", func() bool { return tty.Dropped() >= dropped+uint64(len(urc)) })
			// ...and the next application gets only its own answers.
			a := openApp(t, r.ttyLink)
			a.expectCommand("AT", answerOK)

			checkCleanSession(t, r.stats())
		})
	}
}

// TestE2ECallEndsWhenItsApplicationLeaves dials from one application,
// which then closes the tty, and opens it again at once, as a restarted
// pppd does: the bridge ends the call the application left (as dropping
// DTR would), so the next application finds the module in command mode.
func TestE2ECallEndsWhenItsApplicationLeaves(t *testing.T) {
	const rounds = 3
	for _, v := range e2eVersions {
		t.Run(v.String(), func(t *testing.T) {
			r := newRig(t, v)
			r.startBridge(t)
			for i := range rounds {
				a := openApp(t, r.ttyLink)
				a.expectCommand("ATD*99#", "\r\nCONNECT\r\n")
				a.close()
				// A new process (pppd restarting) opens the tty milliseconds
				// later. ptyside sees a departure from the master's hang-up;
				// a reopen within microseconds of the close can hide it
				// (a known limit, see the ptyside package doc).
				time.Sleep(20 * time.Millisecond)
				next := openApp(t, r.ttyLink)
				r.waitModem(t, "the bridge to end the call its application left", func(st modemsim.Stats) bool {
					return st.Connects == uint64(i+1) && !st.DataMode
				})
				next.expectCommand("AT", answerOK)
				next.close()
				// The next round's application is a new process too.
				time.Sleep(20 * time.Millisecond)
			}
			checkCleanSession(t, r.stats())
		})
	}
}

// TestE2EForeignBytesNeverReachApp puts on the module's line what did not
// come from the module in this session: plain text, frames sealed with
// other secrets, a replay of an authentic frame. The application receives
// none of it, but does receive the authentic frame sent right after.
func TestE2EForeignBytesNeverReachApp(t *testing.T) {
	type attack func(t *testing.T, r *rig)
	injectPlain := func(s string) attack {
		return func(t *testing.T, r *rig) { r.mod.InjectPlain([]byte(s)) }
	}
	forged := func(other func(t *testing.T, r *rig) *c2c.Secrets) attack {
		return func(t *testing.T, r *rig) {
			s := other(t, r)
			sealer, err := c2c.NewSealer(s, rand.Reader, c2c.DefaultMaxPlaintext)
			if err != nil {
				t.Fatal(err)
			}
			frame, err := sealer.SealFrame(nil, []byte("\r\nRING\r\n"))
			if err != nil {
				t.Fatal(err)
			}
			r.mod.InjectPlain(frame)
		}
	}
	otherPairing := func(t *testing.T, r *rig) *c2c.Secrets { return newSecrets(t, r.secrets.Version()) }
	otherHMACKey := func(t *testing.T, r *rig) *c2c.Secrets {
		s := *r.secrets
		s.HMACKey = newSecrets(t, c2c.V2).HMACKey
		return &s
	}
	otherKey := func(t *testing.T, r *rig) *c2c.Secrets {
		s := *r.secrets
		s.Key = newSecrets(t, c2c.V1).Key
		return &s
	}
	replay := func(t *testing.T, r *rig) {
		if !r.mod.ReplayFrame() {
			t.Fatal("modemsim: no frame to replay")
		}
	}
	tests := []struct {
		name   string
		only   c2c.Version // 0: every version
		attack attack
	}{
		{"plain OK", 0, injectPlain("\r\nOK\r\n")},
		{"plain RING", 0, injectPlain("\r\nRING\r\n")},
		{"frame sealed with another pairing", 0, forged(otherPairing)},
		{"frame sealed with another key", 0, forged(otherKey)},
		{"frame sealed with another hmac_key", c2c.V2, forged(otherHMACKey)},
		{"replayed frame", 0, replay},
		{"all of them in a row", 0, func(t *testing.T, r *rig) {
			injectPlain("\r\nOK\r\n")(t, r)
			forged(otherPairing)(t, r)
			replay(t, r)
			injectPlain("\r\nNO CARRIER\r\n")(t, r)
			replay(t, r)
		}},
	}
	for _, v := range e2eVersions {
		t.Run(v.String(), func(t *testing.T) {
			r := newRig(t, v)
			r.startBridge(t)
			a := openApp(t, r.ttyLink)
			a.expectCommand("AT", answerOK) // the first frame to replay
			for i, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					if tt.only != 0 && tt.only != v {
						t.Skipf("%v only", tt.only)
					}
					a.t = t
					tt.attack(t, r)
					mark := "+MARK: " + strconv.Itoa(i+1)
					r.mod.SendURC(mark)
					want := "\r\n" + mark + "\r\n"
					if got := string(a.readN("the authentic URC", len(want))); got != want {
						t.Fatalf("the application got %q, want only the authentic %q", clip([]byte(got)), want)
					}
				})
			}
			// Nothing else is pending: the next authentic frame is next.
			// (Not a command: see TestE2ECommandsAmidLineNoise.)
			a.t = t
			r.mod.SendURC("+MARK: end")
			if got, want := string(a.readN("the last URC", len("\r\n+MARK: end\r\n"))), "\r\n+MARK: end\r\n"; got != want {
				t.Fatalf("the application got %q, want %q", clip([]byte(got)), want)
			}
			checkCleanSession(t, r.stats())
		})
	}
}

// TestE2ECommandsAmidLineNoise sends application commands while plain
// text arrives on the modem line between the module's frames (line noise,
// or an attacker): every command gets its own whole answer.
func TestE2ECommandsAmidLineNoise(t *testing.T) {
	const rounds = 20
	for _, v := range e2eVersions {
		t.Run(v.String(), func(t *testing.T) {
			r := newRig(t, v)
			r.startBridge(t)
			a := openApp(t, r.ttyLink)
			for range rounds {
				a.write([]byte("AT+CGMI\r"))
				r.mod.InjectPlain([]byte("\r\nRDY\r\n"))
				if got := string(a.readUntil("the answer to AT+CGMI", finalResultEnd)); got != answerCGMI {
					t.Fatalf("AT+CGMI amid plain text: answer %q, want %q", got, answerCGMI)
				}
			}
			a.expectCommand("AT", answerOK)
			checkCleanSession(t, r.stats())
		})
	}
}

// waitUntil polls cond until it holds, at most hangGuard.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(hangGuard)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", hangGuard, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
