package bridge

import (
	"bytes"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/c2cbridge/c2cbridge/counters"
	c2c "github.com/c2cbridge/c2cbridge/crypto"
	"github.com/c2cbridge/c2cbridge/modemsim"
)

// TestReplayAcrossReboot: the window of seen IVs lives as long as the
// secrets: a frame recorded in one session and replayed after the module
// rebooted and the bridge reopened is dropped.
func TestReplayAcrossReboot(t *testing.T) {
	r := newRig(t, rigOpts{})
	r.waitOpen()
	r.mod.RecordNextFrame("u-blox")
	r.send("AT+CGMI\r")
	r.expect("OK")
	r.mod.Reboot()
	waitFor(t, "the reopen", func() bool { return r.mod.Stats().Opens == 2 && r.b.Stats().State == StateOpen })
	if !r.mod.ReplayRecorded() {
		t.Fatal("nothing recorded")
	}
	waitFor(t, "the replay to be dropped", func() bool { return r.b.Stats().Counters[counters.Replays] == 1 })
	r.send("AT\r")
	if got := r.expect("OK"); len(got) != 0 {
		t.Fatalf("the application got %q from a replayed frame", got)
	}
}

// TestSecurityLinesNeverReachTheApplication: a +USECC2C line from the
// module that answers no command of the bridge's is dropped, in command
// mode and in a call, also when it is split across frames; what is around
// it arrives.
func TestSecurityLinesNeverReachTheApplication(t *testing.T) {
	// A pairing answer: it carries a key, and no rekey to adopt.
	secret := strings.Repeat("ab", 16)
	line := `+USECC2C: 0,0,"` + secret + `"`
	r := newRig(t, rigOpts{rawApp: true})
	r.waitOpen()
	r.mod.SendURC(line)
	r.mod.SendURC("+AFTER: 1")
	want := "\r\n\r\n" + "\r\n+AFTER: 1\r\n" // the dropped line leaves its line breaks
	if got := r.raw.waitLen(t, len(want)); string(got) != want {
		t.Fatalf("command mode: the application got %q", got)
	}
	r.raw.take(len(want))

	r.send("ATD*99#\r")
	r.raw.waitLen(t, len("\r\nCONNECT\r\n"))
	r.raw.take(len("\r\nCONNECT\r\n"))
	// Call data that holds a security line, cut in the middle of the mark.
	r.send("data before +usec")
	r.send("c2c: 0,0,\"" + secret + "\"\r\nafter")
	time.Sleep(200 * time.Millisecond)
	r.raw.mu.Lock()
	got := string(r.raw.buf)
	r.raw.mu.Unlock()
	if strings.Contains(strings.ToLower(got), "usecc2c") || strings.Contains(got, secret) {
		t.Fatalf("call data: the application got %q", got)
	}
	if !strings.HasPrefix(got, "data before ") {
		t.Fatalf("call data before the line lost: %q", got)
	}
}

// TestUnsolicitedRekeyAnswerAdopted: an answer to a rekey the bridge did
// not send, with new secrets, is adopted: saved, opened, confirmed. Here
// the module did not really rekey (the test only drives the path): the
// open gets no answer, the old session does, and the bridge goes on with
// the previous generation, saved alone again.
func TestUnsolicitedRekeyAnswerAdopted(t *testing.T) {
	var mu sync.Mutex
	var saves [][2]string
	saved := func() [][2]string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(saves)
	}
	r := newRig(t, rigOpts{brCfg: func(c *Config) {
		c.SaveSecrets = func(cur, prev *c2c.Secrets) error {
			p := ""
			if prev != nil {
				p = prev.Fingerprint()
			}
			mu.Lock()
			saves = append(saves, [2]string{cur.Fingerprint(), p})
			mu.Unlock()
			return nil
		}
	}})
	r.waitOpen()
	before := r.b.Stats().Fingerprint
	r.mod.SendURC(`+USECC2C: 3,0,"` + strings.Repeat("cd", 16) + `","` + strings.Repeat("ef", 16) + `"`)
	waitFor(t, "the adoption to settle", func() bool { return len(saved()) >= 2 && r.b.Stats().State == StateOpen })
	r.send("AT+CGMI\r")
	if got := r.expect("OK"); len(got) != 1 || got[0] != "u-blox" {
		t.Fatalf("after the adoption: %q", got)
	}
	saves = saved()
	if r.b.Stats().Fingerprint != before || saves[len(saves)-1][0] != before || saves[0][1] != before {
		t.Fatalf("saves %v; the module's secrets are %s", saves, before)
	}
	if !bytes.Contains([]byte(r.logs.String()), []byte("adopting the secrets")) {
		t.Fatal("the adoption was not logged")
	}
}

// TestSilentModuleIsNotOpen: when the module stops answering (here every
// byte it sends is lost), the keepalive's check leaves "open" for
// "unconfirmed" instead of reporting a session nobody can prove; when the
// module answers again, the session is open again.
func TestSilentModuleIsNotOpen(t *testing.T) {
	r := newRig(t, rigOpts{brCfg: func(c *Config) { c.Keepalive = 300 * time.Millisecond; c.ProbeTimeout = 200 * time.Millisecond }})
	r.waitOpen()
	r.mod.SetFaults(modemsim.Faults{DropOut: 1})
	waitFor(t, "the state to leave open", func() bool { return r.b.Stats().State == StateUnconfirmed })
	r.mod.SetFaults(modemsim.Faults{})
	waitFor(t, "the session to be confirmed again", func() bool { return r.b.Stats().State == StateOpen })
	r.send("AT\r")
	r.expect("OK")
}

// TestTraceRedactsTheEditedLine: the trace logs the line the module runs,
// after its line editing, with a PIN redacted however it was typed.
func TestTraceRedactsTheEditedLine(t *testing.T) {
	r := newRig(t, rigOpts{brCfg: func(c *Config) { c.Trace = true }})
	r.waitOpen()
	r.send("AT+CPIX\bN=\"4711\"\r")
	r.expect("ERROR") // modemsim has no SIM
	if logs := r.logs.String(); strings.Contains(logs, "4711") || !strings.Contains(logs, "CPIN") {
		t.Fatalf("the trace shows the PIN or not the command:\n%s", logs)
	}
}
