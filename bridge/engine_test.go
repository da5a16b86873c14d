package bridge

import (
	"bytes"
	"context"
	"errors"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/c2cbridge/c2cbridge/config"
	"github.com/c2cbridge/c2cbridge/counters"
	c2c "github.com/c2cbridge/c2cbridge/crypto"
	"github.com/c2cbridge/c2cbridge/modemsim"
)

// stateLog records every state OnState reports, with ModemUp at the time.
type stateLog struct {
	mu     sync.Mutex
	states []State
}

func (l *stateLog) add(s State) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.states = append(l.states, s)
}

func (l *stateLog) seen() []State {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.states)
}

// TestRebootedIsNotLost: a module that rebooted on a healthy UART is
// "module rebooted", with the module still attached; an unplugged UART is
// "module lost", the only state without the module.
func TestRebootedIsNotLost(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cut     func(r *rig)
		want    State
		notWant State
	}{
		{"reboot", func(r *rig) { r.mod.Reboot() }, StateModuleRebooted, StateModemLost},
		{"unplug", func(r *rig) { r.unplug() }, StateModemLost, StateModuleRebooted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var log stateLog
			var modemDownSeen atomic.Bool
			var bridge atomic.Pointer[Bridge] // set once newRig returns
			r := newRig(t, rigOpts{brCfg: func(c *Config) {
				c.OnState = func(s State) {
					log.add(s)
					if b := bridge.Load(); b != nil && !b.Stats().ModemUp {
						modemDownSeen.Store(true)
						if s != StateModemLost {
							t.Errorf("module not attached in state %q", s)
						}
					}
				}
			}})
			bridge.Store(r.b)
			r.waitOpen()
			before := len(log.seen())
			tc.cut(r)
			waitFor(t, "the session to come back", func() bool {
				return len(log.seen()) > before+1 && r.b.Stats().State == StateOpen
			})
			r.send("AT\r")
			r.expect("OK")
			got := log.seen()[before:]
			if !slices.Contains(got, tc.want) || slices.Contains(got, tc.notWant) {
				t.Fatalf("states after the %s: %q; want %q and never %q", tc.name, got, tc.want, tc.notWant)
			}
			if modemDownSeen.Load() != (tc.want == StateModemLost) {
				t.Fatalf("module_attached false seen: %v", modemDownSeen.Load())
			}
		})
	}
}

// TestHeartbeatThroughReconnect: the heartbeat goes on while the engine
// waits for an unplugged adapter, far longer than the heartbeat interval
// (1.5 s at 10 ms stands for a minute's outage at a 30 s watchdog), and
// through a long open backoff.
func TestHeartbeatThroughReconnect(t *testing.T) {
	const every = 10 * time.Millisecond
	var beats atomic.Int64
	var gone atomic.Bool
	r := newRig(t, rigOpts{brCfg: func(c *Config) {
		c.Heartbeat, c.HeartbeatInterval = func() { beats.Add(1) }, every
		dial := c.Dial
		c.Dial = func(ctx context.Context) (ModemConn, error) {
			if gone.Load() {
				return nil, errors.New("no such device")
			}
			return dial(ctx)
		}
	}})
	r.waitOpen()
	gone.Store(true)
	r.unplug()
	waitFor(t, "the bridge to notice", func() bool { return r.b.Stats().State == StateModemLost })
	start := beats.Load()
	time.Sleep(150 * every)
	// Timers on a loaded machine run late; a stuck loop gives none at all.
	if n := beats.Load() - start; n < 15 {
		t.Fatalf("%d heartbeats during a %v reconnect at one per %v", n, 150*every, every)
	}
	gone.Store(false)
	waitFor(t, "the reconnect", func() bool { return r.b.Stats().State == StateOpen })
	r.send("AT\r")
	r.expect("OK")
}

func TestHeartbeatThroughBackoff(t *testing.T) {
	app, _ := net.Pipe()
	modem, _ := net.Pipe()
	var beats atomic.Int64
	b, err := New(Config{Secrets: newSecrets(t, c2c.V2), ProbeTimeout: time.Second,
		Heartbeat: func() { beats.Add(1) }, HeartbeatInterval: 10 * time.Millisecond}, app, modem)
	if err != nil {
		t.Fatal(err)
	}
	b.ctrl.beat = time.NewTicker(b.cfg.HeartbeatInterval)
	defer b.ctrl.beat.Stop()
	b.ctrl.openFails = 3 // the fourth open in a row waits 1 s
	b.ctrl.nextOpen = time.Now()
	if !b.waitBackoff(context.Background()) {
		t.Fatal("the backoff was cut short")
	}
	if n := beats.Load(); n < 10 {
		t.Fatalf("%d heartbeats during a 1 s backoff at one per 10 ms", n)
	}
}

// TestUnwritableKeyFileStopsRekeys: before a rekey the bridge asks whether
// the key file can be written; if not, no rekey is sent, key_file_unsaved
// is set, and the session goes on. If the file fails only after a rekey
// with new secrets, the bridge goes on with them and rekeys no more.
func TestUnwritableKeyFileStopsRekeys(t *testing.T) {
	for _, tc := range []struct {
		name       string
		canSave    bool // the pre-check passes
		wantRekeys uint64
	}{
		{"directory missing", false, 0},
		{"write fails after the rekey", true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "missing", "keys.yaml")
			var saves atomic.Int64
			r := newRig(t, rigOpts{
				modCfg: func(c *modemsim.Config) { c.Rekey = modemsim.RekeyNew },
				brCfg: func(c *Config) {
					c.RekeyInterval = 20 * time.Millisecond
					c.CanSave = func() error {
						if tc.canSave {
							return nil
						}
						return config.CheckKeyFileWritable(path)
					}
					c.SaveSecrets = func(cur, prev *c2c.Secrets) error {
						saves.Add(1)
						return config.WriteKeyFile(path, &config.KeyFile{Secrets: *cur, Previous: prev})
					}
				}})
			r.waitOpen()
			waitFor(t, "key_file_unsaved", func() bool { return r.b.Stats().KeyFileUnsaved })
			time.Sleep(300 * time.Millisecond) // 15 rekey intervals
			if got := r.mod.Stats().Rekeys; got != tc.wantRekeys {
				t.Fatalf("the module ran %d rekeys, want %d", got, tc.wantRekeys)
			}
			if tc.wantRekeys > 0 && saves.Load() == 0 {
				t.Fatal("the new secrets were never offered to the key file")
			}
			r.send("AT+CGMI\r")
			if got := r.expect("OK"); len(got) != 1 || got[0] != "u-blox" {
				t.Fatalf("the session does not go on: %q", got)
			}
			if st := r.b.Stats(); st.State != StateOpen || st.Fingerprint != r.mod.Secrets().Fingerprint() {
				t.Fatalf("state %s, fingerprint %s; the module has %s", st.State, st.Fingerprint, r.mod.Secrets().Fingerprint())
			}
		})
	}
}

// TestStalledApplication: an application that stops reading loses its own
// output beyond the queue, never the bridge's work: rekeys go on while the
// module's output piles up, and the shutdown completes.
func TestStalledApplication(t *testing.T) {
	r := newRig(t, rigOpts{noReader: true, brCfg: func(c *Config) { c.RekeyInterval = 50 * time.Millisecond }})
	r.waitOpen()
	// URCs of 1 KB until the queue overflows (some fall between sessions,
	// during rekeys, and are dropped as plain text).
	urc := "+TEST: " + strings.Repeat("x", 1000)
	waitFor(t, "output beyond the queue to be dropped", func() bool {
		r.mod.SendURC(urc)
		return r.b.Stats().Counters[counters.AppOverruns] > 0
	})
	before := r.mod.Stats().Rekeys
	waitFor(t, "rekeys to go on", func() bool { return r.mod.Stats().Rekeys >= before+3 })
	r.cancel()
	select {
	case err := <-r.runErr:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
		r.runErr <- err // for the rig's cleanup
	case <-time.After(closeTimeout + appFlushTime + hang/3):
		t.Fatal("the shutdown waited on the application")
	}
	if st := r.mod.Stats(); st.InSession {
		t.Fatal("the shutdown did not close the session")
	}
}

// TestCallEndsDuringHangUp: the application leaves a call and the other
// end hangs up while the bridge waits to send its escape: the module's
// NO CARRIER ends the call, and the bridge neither waits for an OK that
// cannot come nor holds the next application's input.
func TestCallEndsDuringHangUp(t *testing.T) {
	for _, tc := range []struct {
		name  string
		delay time.Duration // after the application left
	}{
		{"before the escape", 20 * time.Millisecond},
		{"during the escape", 130 * time.Millisecond}, // the guard is 100 ms
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, rigOpts{rawApp: true})
			r.waitOpen()
			r.send("ATD*99#\r")
			r.raw.waitLen(t, len("\r\nCONNECT\r\n"))
			r.raw.take(len("\r\nCONNECT\r\n"))
			r.b.AppDetached()
			time.Sleep(tc.delay)
			r.mod.DropCall()
			waitFor(t, "the bridge to leave the call", func() bool { return !r.b.inDataMode() })
			r.send("AT\r")
			waitFor(t, "OK", func() bool {
				r.raw.mu.Lock()
				defer r.raw.mu.Unlock()
				return bytes.Contains(r.raw.buf, []byte("\r\nOK\r\n"))
			})
			if strings.Contains(r.logs.String(), "ending the call the application left") {
				t.Fatalf("the hang-up waited for an answer that could not come:\n%s", r.logs.String())
			}
		})
	}
}
