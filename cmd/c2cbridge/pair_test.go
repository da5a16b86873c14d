//go:build linux

package main

// Tests of c2cbridge pair against the simulated module on a real pty, one
// per case of the pairing step (docs/protocol.md, "Security commands" and
// "Errors and timeouts").

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/c2cbridge/c2cbridge/config"
	c2c "github.com/c2cbridge/c2cbridge/crypto"
	"github.com/c2cbridge/c2cbridge/modemsim"
	"github.com/c2cbridge/c2cbridge/ptyside"
)

// pairTestTimeout bounds every wait of these tests.
const pairTestTimeout = 30 * time.Second

// pairRig is a simulated module on a pty in a temporary directory and a
// configuration whose modem.device is its link.
type pairRig struct {
	dir     string
	device  string // the module's link
	keyFile string
	cfgPath string
	mod     *modemsim.Module
	srv     *modemsim.PTYServer
}

func newPairRig(t *testing.T, mcfg modemsim.Config) *pairRig {
	t.Helper()
	dir := t.TempDir()
	r := &pairRig{
		dir:     dir,
		device:  filepath.Join(dir, "ttyModem0"),
		keyFile: filepath.Join(dir, "keys.yaml"),
		cfgPath: filepath.Join(dir, "config.yaml"),
	}
	r.mod, r.srv = serveModemsim(t, mcfg, r.device)
	text := fmt.Sprintf(`modem:
  device: %q
  flow_control: none
pty:
  link: %q
  mode: "0600"
keys:
  file: %q
session:
  command_timeout: 5s
log:
  level: debug
`, r.device, filepath.Join(dir, "ttyC2C0"), r.keyFile)
	if err := os.WriteFile(r.cfgPath, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return r
}

// pairOutput is what one run of pair printed.
type pairOutput struct {
	status         int
	stdout, stderr string
}

func (o pairOutput) String() string {
	return fmt.Sprintf("status %d, stdout %q, stderr %q", o.status, o.stdout, o.stderr)
}

// run runs c2cbridge pair --config FILE args... with the real pairer,
// busy backoff included.
func (r *pairRig) run(t *testing.T, args ...string) pairOutput {
	t.Helper()
	return r.runWith(t, nil, args...)
}

// runWith runs pair with a pairer whose busy backoff is 10 ms, changed
// further by edit if not nil.
func (r *pairRig) runWith(t *testing.T, edit func(*pairer), args ...string) pairOutput {
	t.Helper()
	// A port closed by an earlier command may leave TIOCEXCL set.
	if err := r.srv.ClearExclusive(); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	args = append([]string{"--config", r.cfgPath}, args...)
	var status int
	if edit == nil {
		status = cmdPair(args, &stdout, &stderr)
	} else {
		p := newPairer(&stdout, &stderr)
		p.backoff = func(int) time.Duration { return 10 * time.Millisecond }
		edit(p)
		status = p.main(args)
	}
	out := pairOutput{status, stdout.String(), stderr.String()}
	t.Logf("pair %q: %v", args[2:], out)
	checkNoSecrets(t, "pair output", out.stdout+out.stderr, r.mod.Secrets())
	return out
}

// checkFailed checks that pair failed with one line on stderr that says
// every text of want, and wrote no key file.
func (r *pairRig) checkFailed(t *testing.T, out pairOutput, want ...string) {
	t.Helper()
	if out.status != 1 || out.stdout != "" {
		t.Fatalf("want a failure: %v", out)
	}
	if strings.Count(out.stderr, "\n") != 1 || !strings.HasPrefix(out.stderr, "c2cbridge: ") {
		t.Errorf("want one line on stderr, got %q", out.stderr)
	}
	for _, w := range want {
		if !strings.Contains(out.stderr, w) {
			t.Errorf("stderr %q does not say %q", out.stderr, w)
		}
	}
	// ENOTDIR: the key file's directory is not one (it could not be made).
	if _, err := os.Lstat(r.keyFile); !errors.Is(err, os.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
		t.Errorf("a key file was written (%v)", err)
	}
}

// checkPaired checks that pair succeeded, printed the version, the key
// file and the fingerprint on its last line, and that the key file holds
// the module's secrets with mode 0600.
func (r *pairRig) checkPaired(t *testing.T, out pairOutput, v c2c.Version) *c2c.Secrets {
	t.Helper()
	if out.status != 0 || out.stderr != "" {
		t.Fatalf("want success: %v", out)
	}
	mod := r.mod.Secrets()
	if mod == nil {
		t.Fatal("the module is not paired")
	}
	lines := strings.Split(strings.TrimSuffix(out.stdout, "\n"), "\n")
	last := lines[len(lines)-1]
	for _, w := range []string{v.String(), r.keyFile, "fingerprint " + mod.Fingerprint()} {
		if !strings.Contains(last, w) {
			t.Errorf("last line %q does not say %q", last, w)
		}
	}
	kf, err := config.ReadKeyFile(r.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if got := kf.Secrets.Fingerprint(); got != mod.Fingerprint() {
		t.Errorf("key file fingerprint %s, module's %s", got, mod.Fingerprint())
	}
	if kf.Secrets.Version() != v || kf.Previous != nil {
		t.Errorf("key file: %v, previous %v; want %v and no previous generation", &kf.Secrets, kf.Previous, v)
	}
	if m := fileMode(t, r.keyFile); m != config.KeyFileMode {
		t.Errorf("key file mode %v, want 0600", m)
	}
	return mod
}

// checkSessionOpens runs the bridge (runBridge, as c2cbridge run does) in
// front of the module with the rig's configuration until the secure
// session is open, then stops it.
func (r *pairRig) checkSessionOpens(t *testing.T) {
	t.Helper()
	if err := r.srv.ClearExclusive(); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(r.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	var logBuf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- runBridge(ctx, cfg, log, func(ptyside.Device) { close(ready) })
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("the bridge stopped before the session opened: %v\n%s", err, logBuf.String())
	case <-time.After(pairTestTimeout):
		t.Fatal("the session did not open")
	}
	if !r.mod.Stats().InSession {
		t.Error("the bridge is ready but the module has no session")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("bridge: %v", err)
		}
	case <-time.After(pairTestTimeout):
		t.Fatal("the bridge did not stop")
	}
}

func TestPair(t *testing.T) {
	for _, v := range []c2c.Version{c2c.V1, c2c.V2} {
		t.Run(v.String(), func(t *testing.T) {
			r := newPairRig(t, modemsim.Config{Pairable: true, Version: v, Echo: true})
			out := r.run(t)
			r.checkPaired(t, out, v)
			st := r.mod.Stats()
			wantConfirmations := uint64(0)
			if v == c2c.V2 {
				wantConfirmations = 1
			}
			if st.Pairings != 1 || st.Confirmations != wantConfirmations || !st.Confirmed {
				t.Errorf("module: %d pairings, %d confirmations, confirmed %v; want 1, %d, true",
					st.Pairings, st.Confirmations, st.Confirmed, wantConfirmations)
			}
			r.checkSessionOpens(t)
		})
	}
}

func TestPairWrongConfirmation(t *testing.T) {
	r := newPairRig(t, modemsim.Config{Pairable: true, Version: c2c.V2})
	out := r.runWith(t, func(p *pairer) {
		p.seal = func(s *c2c.Secrets, tag *c2c.Secret, rand io.Reader) (string, error) {
			wrong := *tag
			wrong[0] ^= 1
			return c2c.SealConfirmation(s, &wrong, rand)
		}
	})
	r.checkFailed(t, out, "pairing confirmation", `"ERROR"`, "does not match", "no key file was written")
	if st := r.mod.Stats(); st.Pairings != 1 || st.Confirmations != 0 || st.Confirmed {
		t.Errorf("module: %d pairings, %d confirmations, confirmed %v; want 1, 0, false", st.Pairings, st.Confirmations, st.Confirmed)
	}
}

func TestPairBusy(t *testing.T) {
	tests := []struct {
		name      string
		busy      int
		args      []string
		ok        bool
		backoffs  []int // the retries the backoff was asked about
		busyCount uint64
		busyText  string // how a failure says busyCount
	}{
		{"busy twice, default retries", 2, nil, true, []int{0, 1}, 2, ""},
		{"busy three times, three retries", 3, []string{"--retries", "3"}, true, []int{0, 1, 2}, 3, ""},
		{"busy more than --retries", 5, []string{"--retries", "2"}, false, []int{0, 1}, 3, "3 times"},
		{"busy, no retries", 1, []string{"--retries", "0"}, false, nil, 1, "once"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newPairRig(t, modemsim.Config{Pairable: true, Version: c2c.V2})
			r.mod.SetBusy(tc.busy)
			var backoffs []int
			out := r.runWith(t, func(p *pairer) {
				p.backoff = func(retry int) time.Duration {
					backoffs = append(backoffs, retry)
					return 10 * time.Millisecond
				}
			}, tc.args...)
			if tc.ok {
				r.checkPaired(t, out, c2c.V2)
			} else {
				r.checkFailed(t, out, "SEC busy", tc.busyText, "--retries")
				if st := r.mod.Stats(); st.Pairings != 0 {
					t.Errorf("module paired %d times", st.Pairings)
				}
			}
			if fmt.Sprint(backoffs) != fmt.Sprint(tc.backoffs) {
				t.Errorf("backoff asked for retries %v, want %v", backoffs, tc.backoffs)
			}
			if st := r.mod.Stats(); st.BusyAnswers != tc.busyCount {
				t.Errorf("module answered busy %d times, want %d", st.BusyAnswers, tc.busyCount)
			}
		})
	}
}

func TestPairNotAllowed(t *testing.T) {
	r := newPairRig(t, modemsim.Config{Pairable: false})
	out := r.run(t)
	r.checkFailed(t, out, "NOT_ALLOWED", `"+CME ERROR: operation not allowed"`, "not claimed", "no key file was written")
	if st := r.mod.Stats(); st.Pairings != 0 {
		t.Errorf("module paired %d times", st.Pairings)
	}
}

func TestPairKeepsKeyFileWithoutForce(t *testing.T) {
	r := newPairRig(t, modemsim.Config{Pairable: true})
	old := keysTestSecrets(t, c2c.V2)
	if err := config.WriteKeyFile(r.keyFile, &config.KeyFile{Secrets: *old}); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(r.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	out := r.run(t)
	if out.status != 1 || strings.Count(out.stderr, "\n") != 1 {
		t.Fatalf("want one line of failure: %v", out)
	}
	for _, w := range []string{r.keyFile + " already exists", "--force", "not asked"} {
		if !strings.Contains(out.stderr, w) {
			t.Errorf("stderr %q does not say %q", out.stderr, w)
		}
	}
	after, err := os.ReadFile(r.keyFile)
	if err != nil || !bytes.Equal(before, after) {
		t.Errorf("the key file changed (%v)", err)
	}
	if st := r.mod.Stats(); st.Pairings != 0 || st.Commands != 0 {
		t.Errorf("the module was asked: %d pairings, %d commands", st.Pairings, st.Commands)
	}
	if baks, _ := filepath.Glob(r.keyFile + ".bak-*"); len(baks) != 0 {
		t.Errorf("backups made: %v", baks)
	}
	checkNoSecrets(t, "pair output", out.stdout+out.stderr, old)
}

func TestPairForce(t *testing.T) {
	r := newPairRig(t, modemsim.Config{Pairable: true})
	old := keysTestSecrets(t, c2c.V2)
	if err := config.WriteKeyFile(r.keyFile, &config.KeyFile{Secrets: *old}); err != nil {
		t.Fatal(err)
	}
	oldBytes, err := os.ReadFile(r.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 25, 17, 30, 0, 0, time.FixedZone("CET", 3600))
	clock := func(p *pairer) { p.now = func() time.Time { return now } }
	bak := r.keyFile + ".bak-20261125T163000Z"

	out := r.runWith(t, clock, "--force")
	first := r.checkPaired(t, out, c2c.V2)
	checkNoSecrets(t, "pair output", out.stdout, old)
	if !strings.Contains(out.stdout, bak) {
		t.Errorf("stdout %q does not name the backup %s", out.stdout, bak)
	}
	checkBackup(t, bak, oldBytes)
	newBytes, err := os.ReadFile(r.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(newBytes, oldBytes) {
		t.Error("the key file did not change")
	}

	// Pairing again in the same second keeps the first backup.
	out = r.runWith(t, clock, "--force")
	r.checkPaired(t, out, c2c.V2)
	checkNoSecrets(t, "pair output", out.stdout, old, first)
	checkBackup(t, bak, oldBytes)
	checkBackup(t, bak+".1", newBytes)
	if st := r.mod.Stats(); st.Pairings != 2 || st.Confirmations != 2 {
		t.Errorf("module: %d pairings, %d confirmations; want 2, 2", st.Pairings, st.Confirmations)
	}
	r.checkSessionOpens(t)
}

// checkBackup checks that the backup at path holds want, mode 0600.
func checkBackup(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("backup: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("backup %s differs from the old key file", path)
	}
	if m := fileMode(t, path); m != config.KeyFileMode {
		t.Errorf("backup %s: mode %v, want 0600", path, m)
	}
}

// setKeyFile points the rig's configuration at another key file.
func (r *pairRig) setKeyFile(t *testing.T, path string) {
	t.Helper()
	text, err := os.ReadFile(r.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	text = bytes.Replace(text, []byte(fmt.Sprintf("file: %q", r.keyFile)), []byte(fmt.Sprintf("file: %q", path)), 1)
	if err := os.WriteFile(r.cfgPath, text, 0o644); err != nil {
		t.Fatal(err)
	}
	r.keyFile = path
}

// TestPairMakesKeyFileDirectory checks that pair makes a missing key file
// directory, private: a new instance's StateDirectory= exists only after
// the first start, which waits for the key file.
func TestPairMakesKeyFileDirectory(t *testing.T) {
	r := newPairRig(t, modemsim.Config{Pairable: true, Version: c2c.V2})
	dir := filepath.Join(r.dir, "c2cbridge", "modem1")
	r.setKeyFile(t, filepath.Join(dir, "keys.yaml"))
	out := r.run(t)
	r.checkPaired(t, out, c2c.V2)
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("the key file's directory: %v, %v; want mode 700", fi.Mode(), err)
	}
}

func TestPairUnwritableKeyFile(t *testing.T) {
	r := newPairRig(t, modemsim.Config{Pairable: true})
	// The directory cannot be made: its parent is a file.
	blocker := filepath.Join(r.dir, "a-file")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r.setKeyFile(t, filepath.Join(blocker, "keys.yaml"))
	out := r.run(t)
	r.checkFailed(t, out, "cannot be written", "not asked")
	if st := r.mod.Stats(); st.Commands != 0 {
		t.Errorf("the module was asked %d commands", st.Commands)
	}
}

func TestPairWriteFailsAfterAnswer(t *testing.T) {
	r := newPairRig(t, modemsim.Config{Pairable: true, Version: c2c.V2})
	state := filepath.Join(r.dir, "state")
	if err := os.Mkdir(state, 0o700); err != nil {
		t.Fatal(err)
	}
	r.setKeyFile(t, filepath.Join(state, "keys.yaml"))
	out := r.runWith(t, func(p *pairer) {
		// Sealing runs after the module answered the pairing and before
		// the key file is written: take the key file's directory away.
		p.seal = func(s *c2c.Secrets, tag *c2c.Secret, rand io.Reader) (string, error) {
			if err := os.Remove(state); err != nil {
				t.Error(err)
			}
			return c2c.SealConfirmation(s, tag, rand)
		}
	})
	r.checkFailed(t, out, "the module paired", "could not be written", "printed nowhere", "pair the module again",
		"fingerprint "+r.mod.Secrets().Fingerprint())
	if st := r.mod.Stats(); st.Pairings != 1 || st.Confirmations != 1 {
		t.Errorf("module: %d pairings, %d confirmations; want 1, 1", st.Pairings, st.Confirmations)
	}
}

func TestPairInterrupted(t *testing.T) {
	r := newPairRig(t, modemsim.Config{Pairable: true})
	r.mod.SetBusy(5)
	cfg, err := config.Load(r.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr bytes.Buffer
	p := newPairer(&stdout, &stderr)
	p.backoff = func(int) time.Duration {
		cancel() // as by SIGINT while waiting for the busy module
		return time.Hour
	}
	err = p.pair(ctx, cfg, false, 3)
	if err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("error %v, want an interruption", err)
	}
	if _, err := os.Lstat(r.keyFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a key file was written (%v)", err)
	}
	if st := r.mod.Stats(); st.BusyAnswers != 1 || st.Pairings != 0 {
		t.Errorf("module: %d busy answers, %d pairings; want 1, 0", st.BusyAnswers, st.Pairings)
	}
}

func TestPairUsage(t *testing.T) {
	for _, args := range [][]string{{"--retries", "-1"}, {"extra"}, {"--bogus"}} {
		var stdout, stderr bytes.Buffer
		if got := cmdPair(args, &stdout, &stderr); got != 2 {
			t.Errorf("pair %q: status %d, want 2 (stderr %q)", args, got, stderr.String())
		}
	}
}
