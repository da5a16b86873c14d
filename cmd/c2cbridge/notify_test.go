package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/c2cbridge/c2cbridge/config"
	c2c "github.com/c2cbridge/c2cbridge/crypto"
	"github.com/c2cbridge/c2cbridge/modemsim"
	"github.com/c2cbridge/c2cbridge/status"
)

// TestNotifyAndStatus runs the bridge under a fake systemd: READY=1 comes
// only once the session is open and the link exists, STATUS= lines follow
// the session, WATCHDOG=1 comes from the engine, STOPPING=1 at the end; the
// status socket answers meanwhile.
func TestNotifyAndStatus(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", sock)
	t.Setenv("WATCHDOG_USEC", "100000")
	t.Setenv("WATCHDOG_PID", "")

	cfg, kf, mod := simSetup(t, dir)
	cfg.Status.Socket = filepath.Join(dir, "status.sock")
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- runBridge(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nil) }()

	var got []string
	buf := make([]byte, 4096)
	read := func(until string) {
		t.Helper()
		for {
			conn.SetReadDeadline(time.Now().Add(30 * time.Second))
			n, err := conn.Read(buf)
			if err != nil {
				t.Fatalf("waiting for %q: %v (got %q)", until, err, got)
			}
			msg := string(buf[:n])
			got = append(got, msg)
			if strings.Contains(msg, until) {
				return
			}
		}
	}
	read("READY=1")
	if _, err := filepath.EvalSymlinks(cfg.PTY.Link); err != nil {
		t.Fatalf("READY=1 before the link exists: %v", err)
	}
	if !mod.Stats().InSession {
		t.Fatal("READY=1 before the session is open")
	}
	if !strings.Contains(got[len(got)-1], "STATUS=session open, V2") {
		t.Fatalf("READY without the session status: %q", got[len(got)-1])
	}
	if !strings.Contains(strings.Join(got, "|"), "EXTEND_TIMEOUT_USEC=") {
		t.Fatalf("no EXTEND_TIMEOUT_USEC while opening: %q", got)
	}
	read("WATCHDOG=1")

	snap, raw, err := status.Query(cfg.Status.Socket, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Session.State != "open" || snap.Session.Version != "V2" || snap.Fingerprint != kf.Secrets.Fingerprint() {
		t.Fatalf("status: %s", raw)
	}
	if strings.Contains(strings.ToLower(string(raw)), kf.Secrets.Key.Hex()) {
		t.Fatal("the status shows a secret")
	}

	cancel()
	read("STOPPING=1")
	if err := <-errc; err != nil {
		t.Fatalf("run: %v", err)
	}
}

// simSetup starts modemsim on a pty in dir with fresh V2 secrets, writes
// the key file and returns a configuration for a bridge in front of it.
func simSetup(t *testing.T, dir string) (*config.Config, *config.KeyFile, *modemsim.Module) {
	t.Helper()
	kf := &config.KeyFile{Secrets: *c2c.RandomSecrets(c2c.V2)}
	mod, _ := serveModemsim(t, modemsim.Config{Secrets: &kf.Secrets}, filepath.Join(dir, "modem"))
	cfg := config.Default()
	cfg.Modem.Device = filepath.Join(dir, "modem")
	cfg.PTY.Link = filepath.Join(dir, "tty")
	cfg.Keys.File = filepath.Join(dir, "keys.yaml")
	cfg.Status.Socket = filepath.Join(dir, "status.sock")
	if err := config.WriteKeyFile(cfg.Keys.File, kf); err != nil {
		t.Fatal(err)
	}
	return &cfg, kf, mod
}
