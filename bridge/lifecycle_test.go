package bridge

import (
	"bytes"
	"context"
	"crypto/rand"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/c2cbridge/c2cbridge/counters"
	c2c "github.com/c2cbridge/c2cbridge/crypto"
	"github.com/c2cbridge/c2cbridge/modemsim"
)

// waitFor polls cond until it holds, failing the test after the hang guard.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(hang)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRebootIdle(t *testing.T) {
	versions(t, func(t *testing.T, v c2c.Version) {
		r := newRig(t, rigOpts{version: v})
		r.waitOpen()
		r.send("AT\r")
		r.expect("OK")
		r.mod.Reboot() // the module prints RDY in plain text, session gone
		waitFor(t, "the session to be reopened", func() bool {
			return r.mod.Stats().Opens == 2 && r.b.Stats().State == StateOpen
		})
		r.send("AT+CGMI\r")
		if got := r.expect("OK"); len(got) != 1 || got[0] != "u-blox" {
			t.Fatalf("after the reboot: %q", got)
		}
		if st := r.b.Stats(); st.Counters[counters.Reopens] != 1 {
			t.Fatalf("reopens %d", st.Counters[counters.Reopens])
		}
	})
}

func TestRebootMidCommand(t *testing.T) {
	r := newRig(t, rigOpts{})
	r.waitOpen()
	r.send("AT+TSLOW=3000\r") // answered after 3 s, unless the module reboots first
	time.Sleep(50 * time.Millisecond)
	r.mod.Reboot()
	r.expect("ERROR") // from the bridge: the command cannot be answered any more
	waitFor(t, "the session to be reopened", func() bool { return r.b.Stats().State == StateOpen })
	r.send("AT\r")
	r.expect("OK")
	if !strings.Contains(r.logs.String(), "in flight when the session was lost") {
		t.Fatal("the bridge did not log the command it answered ERROR")
	}
}

func TestKeepaliveFindsLostSession(t *testing.T) {
	// The module reboots silently (its RDY is lost on the line): only the
	// keepalive can notice.
	r := newRig(t, rigOpts{modCfg: func(c *modemsim.Config) { c.RebootDelay = 20 * time.Millisecond },
		brCfg: func(c *Config) { c.Keepalive = 300 * time.Millisecond; c.ProbeTimeout = 200 * time.Millisecond }})
	r.waitOpen()
	r.mod.SetFaults(modemsim.Faults{DropOut: 1})
	r.mod.Reboot()
	waitFor(t, "the reboot", func() bool { return r.mod.HasEvent("rdy") })
	r.mod.SetFaults(modemsim.Faults{})
	if r.mod.Stats().Opens != 1 {
		t.Fatal("reopened before the keepalive")
	}
	waitFor(t, "the keepalive to reopen the session", func() bool { return r.mod.Stats().Opens == 2 && r.b.Stats().State == StateOpen })
	r.send("AT\r")
	r.expect("OK")
}

func TestUnplugResumesSession(t *testing.T) {
	versions(t, func(t *testing.T, v c2c.Version) {
		r := newRig(t, rigOpts{version: v})
		r.waitOpen()
		r.send("AT\r")
		r.expect("OK")
		r.unplug()
		waitFor(t, "the reconnect", func() bool { return r.b.Stats().Counters[counters.Reconnects] == 1 && r.b.Stats().State == StateOpen })
		r.send("AT+CGMI\r")
		r.expect("u-blox")
		r.expect("OK")
		if st := r.mod.Stats(); st.Opens != 1 {
			t.Fatalf("the module kept its session, yet the bridge opened %d times", st.Opens)
		}
	})
}

func TestUnplugDuringTransfer(t *testing.T) {
	r := newRig(t, rigOpts{rawApp: true})
	r.waitOpen()
	r.send("ATD*99#\r")
	got := string(r.raw.waitLen(t, len("\r\nCONNECT\r\n")))
	r.raw.take(len(got))
	data := make([]byte, 256<<10)
	rand.Read(data)
	go func() {
		for p := data; len(p) > 0; {
			k := min(len(p), 4096)
			r.app.Write(p[:k])
			p = p[k:]
			if len(p) == len(data)/2 {
				r.unplug()
			}
		}
	}()
	waitFor(t, "the reconnect", func() bool { return r.b.Stats().Counters[counters.Reconnects] >= 1 && r.b.Stats().State == StateOpen })
	// Bytes on the cable when it was cut are gone; what matters is that the
	// stream resumes: new data written now comes back.
	marker := []byte("after-the-replug")
	time.Sleep(100 * time.Millisecond)
	r.app.Write(marker)
	deadline := time.Now().Add(hang)
	for {
		r.raw.mu.Lock()
		ok := bytes.Contains(r.raw.buf, marker)
		r.raw.mu.Unlock()
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the stream did not resume after the replug")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestHangUpWhenApplicationLeaves(t *testing.T) {
	r := newRig(t, rigOpts{rawApp: true})
	r.waitOpen()
	r.send("ATD*99#\r")
	r.raw.waitLen(t, len("\r\nCONNECT\r\n"))
	r.raw.take(len("\r\nCONNECT\r\n"))
	r.send("some data")
	r.raw.waitLen(t, len("some data"))
	r.raw.take(len("some data"))
	r.b.AppDetached()
	waitFor(t, "the call to end", func() bool { st := r.mod.Stats(); return !st.DataMode && st.Escapes == 1 })
	waitFor(t, "ATH", func() bool { return r.mod.HasEvent("call end") })
	r.send("AT\r")
	got := r.raw.waitLen(t, len("\r\nOK\r\n"))
	if string(got) != "\r\nOK\r\n" {
		t.Fatalf("after the hang-up the next application got %q", got)
	}
}

func TestRekeyHeldThroughDataMode(t *testing.T) {
	r := newRig(t, rigOpts{rawApp: true, brCfg: func(c *Config) { c.RekeyInterval = 20 * time.Millisecond }})
	r.waitOpen()
	waitFor(t, "a first rekey", func() bool { return r.mod.Stats().Rekeys >= 1 && r.b.Stats().State == StateOpen })
	// Dial while idle: a rekey may come first, then the dial goes out.
	r.send("ATD*99#\r")
	r.raw.waitLen(t, len("\r\nCONNECT\r\n"))
	r.raw.take(len("\r\nCONNECT\r\n"))
	before := r.mod.Stats().Rekeys
	payload := make([]byte, 64<<10)
	rand.Read(payload)
	for i := 0; i < 4; i++ {
		r.send(string(payload[i*16<<10 : (i+1)*16<<10]))
		time.Sleep(30 * time.Millisecond)
	}
	back := r.raw.waitLen(t, len(payload))
	if !bytes.Equal(back, payload) {
		t.Fatal("data changed during the call")
	}
	r.raw.take(len(payload))
	if got := r.mod.Stats().Rekeys; got != before {
		t.Fatalf("%d rekeys during the data-mode call", got-before)
	}
	if r.b.Stats().Counters[counters.RekeysOverdue] == 0 {
		t.Fatal("the overdue rekey was not counted")
	}
	time.Sleep(150 * time.Millisecond) // the escape guard
	r.send("+++")
	r.raw.waitLen(t, len("\r\nOK\r\n"))
	r.raw.take(len("\r\nOK\r\n"))
	waitFor(t, "the rekey after the call", func() bool { return r.mod.Stats().Rekeys > before })
	r.send("AT\r")
	waitFor(t, "OK after the rekey", func() bool {
		r.raw.mu.Lock()
		defer r.raw.mu.Unlock()
		return bytes.Contains(r.raw.buf, []byte("\r\nOK\r\n"))
	})
}

func TestFaultsNeverReachTheApplication(t *testing.T) {
	for _, tc := range []struct {
		name   string
		faults modemsim.Faults
	}{
		{"flips 1e-5", modemsim.Faults{FlipOut: 1e-5}},
		{"flips 1e-4", modemsim.Faults{FlipOut: 1e-4}},
		{"flips 1e-3", modemsim.Faults{FlipOut: 1e-3}},
		{"drops 1e-3", modemsim.Faults{DropOut: 1e-3}},
	} {
		versions(t, func(t *testing.T, v c2c.Version) {
			t.Run(tc.name, func(t *testing.T) {
				r := newRig(t, rigOpts{version: v, modCfg: func(c *modemsim.Config) { c.FaultSeed = 7 }})
				r.waitOpen()
				r.mod.SetFaults(tc.faults)
				// 60 answers of 200 characters: each one either arrives intact
				// or not at all; injected plain text never arrives.
				const n, size = 60, 200
				want := ""
				answered := 0
				for i := range n {
					if i%20 == 0 {
						r.mod.InjectPlain([]byte("\r\nOK\r\n\r\nRING\r\n"))
					}
					r.send("AT+TBIG=200\r")
					timer := time.NewTimer(300 * time.Millisecond)
				read:
					for {
						select {
						case l := <-r.lines:
							switch {
							case l == "OK":
								answered++
								break read
							case len(l) == size && (want == "" || l == want):
								want = l
							default:
								t.Fatalf("the application received %q, which the module never sent in an authentic frame", l)
							}
						case <-timer.C:
							break read // the answer was in a dropped frame
						}
					}
					timer.Stop()
				}
				st := r.b.Stats()
				t.Logf("%d of %d answered; MAC %d FCS %d length %d other %d stray %d", answered, n, st.Counters[counters.MACFailures], st.Counters[counters.FCSFailures], st.Counters[counters.LengthErrors], st.Counters[counters.OtherRejects], st.Counters[counters.StrayBytes])
				if answered == 0 {
					t.Fatal("no answer got through")
				}
				if st.Counters[counters.StrayBytes] == 0 {
					t.Fatal("injected plain text not counted")
				}
				if tc.faults.FlipOut >= 1e-4 && st.Counters[counters.MACFailures]+st.Counters[counters.FCSFailures]+st.Counters[counters.LengthErrors]+st.Counters[counters.OtherRejects] == 0 {
					t.Fatal("bit flips not counted")
				}
			})
		})
	}
}

func TestManyRekeys(t *testing.T) {
	if testing.Short() {
		t.Skip("200 rekeys")
	}
	versions(t, func(t *testing.T, v c2c.Version) {
		var mu sync.Mutex
		saved := 0
		r := newRig(t, rigOpts{version: v,
			modCfg: func(c *modemsim.Config) { c.Rekey = modemsim.RekeyNew },
			brCfg: func(c *Config) {
				c.RekeyInterval = 20 * time.Millisecond
				c.SaveSecrets = func(cur, prev *c2c.Secrets) error {
					mu.Lock()
					saved++
					mu.Unlock()
					return nil
				}
			}})
		r.waitOpen()
		ctx, cancel := context.WithTimeout(context.Background(), 2*hang)
		defer cancel()
		for i := 0; r.mod.Stats().Rekeys < 200; i++ {
			if ctx.Err() != nil {
				t.Fatalf("only %d rekeys", r.mod.Stats().Rekeys)
			}
			r.send("AT+CGMI\r")
			if got := r.expect("OK"); len(got) != 1 || got[0] != "u-blox" {
				t.Fatalf("command %d during rekeys got %q", i, got)
			}
		}
		waitFor(t, "the last rekey to settle", func() bool { return r.b.Stats().State == StateOpen })
		r.send("AT\r")
		r.expect("OK")
		if st := r.mod.Stats(); st.PlainBytesInSession != 0 {
			t.Fatalf("plain bytes in session: %d", st.PlainBytesInSession)
		}
		mu.Lock()
		defer mu.Unlock()
		if saved < 2*200 {
			t.Fatalf("%d key file writes for 200 rekeys with new secrets", saved)
		}
	})
}
