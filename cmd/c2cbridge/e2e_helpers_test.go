//go:build linux

package main

// Helpers of the end-to-end tests: a simulated module on a real pty (the
// "UART"), the bridge in front of it (in this process with runBridge, or as
// a c2cbridge process), and an application on the bridge's virtual tty.
//
//	application ↔ pty (ptyside) ↔ bridge ↔ pty ↔ modemsim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/c2cbridge/c2cbridge/config"
	c2c "github.com/c2cbridge/c2cbridge/crypto"
	"github.com/c2cbridge/c2cbridge/modemsim"
	"github.com/c2cbridge/c2cbridge/ptyside"
)

// hangGuard bounds every wait of the end-to-end tests. It only stops a
// hung test; no test asserts how long anything takes.
const hangGuard = 30 * time.Second

// e2eEscapeGuard is the simulated module's quiet time around "+++" (its
// S12), short so that the data-mode tests can escape quickly; the bridge's
// modem.escape_guard says the same.
const e2eEscapeGuard = 100 * time.Millisecond

// systemdEnv are the variables through which systemd talks to a service
// (notify socket, watchdog, credentials, runtime directory): the tests run
// the bridge as if outside systemd, whatever their own environment.
var systemdEnv = []string{"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "CREDENTIALS_DIRECTORY", "RUNTIME_DIRECTORY"}

// e2eVersions are the C2C versions every end-to-end test runs with.
var e2eVersions = []c2c.Version{c2c.V1, c2c.V2}

// newSecrets returns fresh random secrets of one pairing of version v (a V1
// pairing has no hmac_key).
func newSecrets(t *testing.T, v c2c.Version) *c2c.Secrets {
	t.Helper()
	s := c2c.RandomSecrets(v)
	if got := s.Version(); got != v {
		t.Fatalf("new secrets: version %v, want %v", got, v)
	}
	return s
}

// logBuffer collects the log lines of a test's bridge and module; they are
// printed only when the test fails.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// newTestLogger returns a debug logger into a buffer that is printed if t
// fails.
func newTestLogger(t *testing.T, name string) *slog.Logger {
	t.Helper()
	b := &logBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s log:\n%s", name, b.String())
		}
	})
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// rig is one test's setup: a paired simulated module served on a pty in a
// temporary directory, the key file of that pairing, and the paths a
// bridge in front of it uses.
type rig struct {
	dir          string
	secrets      *c2c.Secrets
	mod          *modemsim.Module
	srv          *modemsim.PTYServer
	keyFile      string // the pairing's key file, mode 0600
	ttyLink      string // where the bridge links its virtual tty
	modemTTY     string // the modem's link, the bridge's modem.device
	statusSocket string // the bridge's status.socket
}

// newRig serves a module paired with fresh secrets of version v on a pty,
// and writes the pairing's key file. The module is closed when t ends.
func newRig(t *testing.T, v c2c.Version) *rig {
	t.Helper()
	return newRigWith(t, v, nil)
}

// newRigWith is newRig with modCfg, if not nil, applied to the module's
// configuration (V.250 options, say) before it starts.
func newRigWith(t *testing.T, v c2c.Version, modCfg func(*modemsim.Config)) *rig {
	t.Helper()
	for _, k := range systemdEnv {
		t.Setenv(k, "")
	}
	dir := t.TempDir()
	r := &rig{
		dir:          dir,
		secrets:      newSecrets(t, v),
		keyFile:      filepath.Join(dir, "keys.yaml"),
		ttyLink:      filepath.Join(dir, "ttyC2C0"),
		modemTTY:     filepath.Join(dir, "ttyModem0"),
		statusSocket: filepath.Join(dir, "status.sock"),
	}
	mcfg := modemsim.Config{
		Secrets:     r.secrets,
		Version:     v,
		EscapeGuard: e2eEscapeGuard,
		Logger:      newTestLogger(t, "modemsim"),
	}
	if modCfg != nil {
		modCfg(&mcfg)
	}
	r.mod, r.srv = serveModemsim(t, mcfg, r.modemTTY)
	if err := config.WriteKeyFile(r.keyFile, &config.KeyFile{Secrets: *r.secrets}); err != nil {
		t.Fatal(err)
	}
	return r
}

// config returns the bridge configuration for the rig, as config.Load
// would return it for the file writeConfig writes.
func (r *rig) config() config.Config {
	cfg := config.Default()
	cfg.Modem.Device = r.modemTTY
	cfg.Modem.FlowControl = "none"
	cfg.Modem.EscapeGuard = e2eEscapeGuard
	cfg.PTY.Link = r.ttyLink
	cfg.PTY.Mode = 0o600
	cfg.Keys.File = r.keyFile
	cfg.Status.Socket = r.statusSocket
	cfg.Log.Level = "debug"
	return cfg
}

// writeConfig writes the rig's configuration file and returns its path.
func (r *rig) writeConfig(t *testing.T) string {
	t.Helper()
	text := fmt.Sprintf(`modem:
  device: %q
  flow_control: none
  escape_guard: %s
pty:
  link: %q
  mode: "0600"
keys:
  file: %q
status:
  socket: %q
log:
  level: debug
`, r.modemTTY, e2eEscapeGuard, r.ttyLink, r.keyFile, r.statusSocket)
	path := filepath.Join(r.dir, "config.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// checkRemoved fails t if the bridge's link or status socket is still
// there.
func (r *rig) checkRemoved(t *testing.T) {
	t.Helper()
	for _, path := range []string{r.ttyLink, r.statusSocket} {
		if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s left behind by the bridge (lstat: %v)", path, err)
		}
	}
}

// stats returns the module's counters now.
func (r *rig) stats() modemsim.Stats { return r.mod.Stats() }

// waitModem waits, at most hangGuard, until cond holds for the module's
// counters.
func (r *rig) waitModem(t *testing.T, what string, cond func(modemsim.Stats) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	if err := r.mod.WaitFor(ctx, cond); err != nil {
		t.Fatalf("waiting for the module: %s: %v", what, err)
	}
}

// startBridge runs the bridge in this process (runBridge, as c2cbridge run
// does) in front of the rig's module and returns its virtual tty once the
// session is open. When t ends, the bridge is stopped as by SIGTERM and
// must return nil, remove its link and leave the module's session closed.
func (r *rig) startBridge(t *testing.T) ptyside.Device {
	t.Helper()
	return r.startBridgeWith(t, r.config())
}

// startBridgeWith is startBridge with the configuration cfg.
func (r *rig) startBridgeWith(t *testing.T, cfg config.Config) ptyside.Device {
	t.Helper()
	log := newTestLogger(t, "bridge")
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan ptyside.Device, 1)
	exited := make(chan struct{})
	var runErr error
	go func() {
		defer close(exited)
		runErr = runBridge(ctx, &cfg, log, func(tty ptyside.Device) { ready <- tty })
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-exited:
		case <-time.After(hangGuard):
			t.Errorf("the bridge did not stop within %v of its context's end", hangGuard)
			return
		}
		if runErr != nil {
			t.Errorf("runBridge returned %v, want nil after a shutdown", runErr)
		}
		r.checkRemoved(t)
		if st := r.stats(); st.InSession {
			t.Errorf("the module is still in a session after the bridge stopped: %+v", st)
		}
	})
	select {
	case tty := <-ready:
		return tty
	case <-exited:
		t.Fatalf("the bridge ended before the session opened: %v", runErr)
	case <-time.After(hangGuard):
		t.Fatalf("the session did not open within %v", hangGuard)
	}
	return nil
}

// app is an application on a tty: the bridge's virtual tty, or the
// module's own pty. It reads synchronously, with a hang guard as deadline,
// and keeps what it read beyond the answer it was waiting for.
type app struct {
	t     *testing.T
	f     *os.File
	name  string
	guard time.Duration // the deadline of each read and write, from its start
	buf   []byte        // read, not yet consumed
}

// openApp opens the tty at path as an application does: read and write,
// not as controlling terminal. The virtual tty is raw already. The file is
// closed when t ends, if the test has not closed it.
func openApp(t *testing.T, path string) *app {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("application: open %s: %v", path, err)
	}
	a := &app{t: t, f: f, name: path, guard: hangGuard}
	t.Cleanup(func() { f.Close() })
	return a
}

// close closes the application's tty, as an application that quits does.
func (a *app) close() {
	a.t.Helper()
	if err := a.f.Close(); err != nil {
		a.t.Fatalf("application: close %s: %v", a.name, err)
	}
}

// write writes p to the tty.
func (a *app) write(p []byte) {
	a.t.Helper()
	if err := a.f.SetWriteDeadline(time.Now().Add(a.guard)); err != nil {
		a.t.Fatalf("application: %s: write deadline: %v", a.name, err)
	}
	if _, err := a.f.Write(p); err != nil {
		a.t.Fatalf("application: write %q to %s: %v", clip(p), a.name, err)
	}
}

// readUntil reads until end, given everything read and not yet consumed,
// returns the length of the message it completes (-1: not complete yet),
// and returns that message.
func (a *app) readUntil(what string, end func(buf []byte) int) []byte {
	a.t.Helper()
	if err := a.f.SetReadDeadline(time.Now().Add(a.guard)); err != nil {
		a.t.Fatalf("application: %s: read deadline: %v", a.name, err)
	}
	tmp := make([]byte, 64<<10)
	for {
		if n := end(a.buf); n >= 0 {
			msg := bytes.Clone(a.buf[:n])
			a.buf = a.buf[n:]
			return msg
		}
		k, err := a.f.Read(tmp)
		a.buf = append(a.buf, tmp[:k]...)
		if err != nil {
			a.t.Fatalf("application: reading %s from %s: %v; got %q", what, a.name, err, clip(a.buf))
		}
	}
}

// readN reads exactly n bytes.
func (a *app) readN(what string, n int) []byte {
	a.t.Helper()
	return a.readUntil(what, func(buf []byte) int {
		if len(buf) < n {
			return -1
		}
		return n
	})
}

// command sends an AT command line (a CR is added) and returns the answer,
// up to and including its final result code.
func (a *app) command(line string) string {
	a.t.Helper()
	a.write([]byte(line + "\r"))
	return string(a.readUntil("the answer to "+line, finalResultEnd))
}

// expectCommand sends an AT command line and checks its whole answer.
func (a *app) expectCommand(line, want string) {
	a.t.Helper()
	if got := a.command(line); got != want {
		a.t.Fatalf("%s: answer %q, want %q", line, clip([]byte(got)), clip([]byte(want)))
	}
}

// finalResults are the final result codes of V.250 and 27.007 an answer
// ends with.
var finalResults = []string{"OK", "ERROR", "NO CARRIER", "BUSY", "NO ANSWER", "NO DIALTONE"}

// finalResultEnd returns the length of buf up to and including the first
// complete final result line ("\r\nOK\r\n", "\r\nCONNECT\r\n", "\r\n+CME
// ERROR: 3\r\n", ...), or -1 if there is none yet.
func finalResultEnd(buf []byte) int {
	for off := 0; ; {
		i := bytes.Index(buf[off:], []byte("\r\n"))
		if i < 0 {
			return -1
		}
		line := string(buf[off : off+i])
		off += i + 2
		if isFinalResult(line) {
			return off
		}
	}
}

func isFinalResult(line string) bool {
	for _, f := range finalResults {
		if line == f {
			return true
		}
	}
	return strings.HasPrefix(line, "CONNECT") || strings.HasPrefix(line, "+CME ERROR:")
}

// clip shortens long byte strings in failure messages.
func clip(p []byte) []byte {
	const limit = 200
	if len(p) <= limit {
		return p
	}
	return append(p[:limit:limit], fmt.Sprintf("... (%d bytes)", len(p))...)
}

// bridgeProcess is c2cbridge running as a process: the test binary
// itself, which acts as the command when e2eAsCommand is set (TestMain).
type bridgeProcess struct {
	cmd    *exec.Cmd
	stderr *logBuffer
	exited chan struct{}
	err    error // of Wait, once exited is closed
}

// startCommand starts c2cbridge with args. The process is killed and
// waited for when t ends, if it is still running then.
func startCommand(t *testing.T, args ...string) *bridgeProcess {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p := &bridgeProcess{stderr: &logBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(exe, args...)
	p.cmd.Env = append(os.Environ(), e2eAsCommand+"=1")
	p.cmd.Stdout = p.stderr
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start c2cbridge %s: %v", strings.Join(args, " "), err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			p.cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("c2cbridge %s output:\n%s", strings.Join(args, " "), p.stderr.String())
		}
	})
	return p
}

// signal sends sig to the process.
func (p *bridgeProcess) signal(t *testing.T, sig os.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("send %v to c2cbridge: %v", sig, err)
	}
}

// wait waits, at most hangGuard, for the process to exit and returns its
// exit status.
func (p *bridgeProcess) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-p.exited:
	case <-time.After(hangGuard):
		t.Fatalf("c2cbridge did not exit within %v", hangGuard)
	}
	var ee *exec.ExitError
	switch {
	case p.err == nil:
		return 0
	case errors.As(p.err, &ee) && ee.Exited():
		return ee.ExitCode()
	}
	t.Fatalf("c2cbridge did not exit normally: %v", p.err)
	return -1
}

// running reports whether the process has not exited yet.
func (p *bridgeProcess) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// serveModemsim starts a simulated module for mcfg on a pty linked at link.
// Both end with the test.
func serveModemsim(t *testing.T, mcfg modemsim.Config, link string) (*modemsim.Module, *modemsim.PTYServer) {
	t.Helper()
	mod, err := modemsim.New(mcfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mod.Close() })
	srv, err := modemsim.ServePTY(context.Background(), mod, link)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return mod, srv
}
