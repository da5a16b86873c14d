package sdnotify_test

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/c2cbridge/c2cbridge/sdnotify"
)

// listen opens a unixgram socket at name (a path or an @abstract name),
// points $NOTIFY_SOCKET at it and returns it.
func listen(t *testing.T, name string) *net.UnixConn {
	t.Helper()
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatalf("listen %s: %v", name, err)
	}
	t.Cleanup(func() { conn.Close() })
	t.Setenv(sdnotify.EnvSocket, name)
	return conn
}

// receive reads one datagram. The deadline only keeps a broken test from
// hanging: the datagram is queued before Send returns.
func receive(t *testing.T, conn *net.UnixConn) string {
	t.Helper()
	if err := conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	n, _, err := conn.ReadFromUnix(buf)
	if err != nil {
		t.Fatalf("receive: %v", err)
	}
	return string(buf[:n])
}

func abstractName(t *testing.T) string {
	t.Helper()
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return "@c2cbridge-sdnotify-test-" + hex.EncodeToString(b[:])
}

func TestDatagrams(t *testing.T) {
	sockets := []struct {
		name string
		addr func(t *testing.T) string
	}{
		{"path", func(t *testing.T) string { return filepath.Join(t.TempDir(), "notify.sock") }},
		{"abstract", abstractName},
	}
	messages := []struct {
		name string
		send func(n *sdnotify.Notifier) error
		want string
	}{
		{"ready", (*sdnotify.Notifier).Ready, "READY=1"},
		{"status", func(n *sdnotify.Notifier) error { return n.Status("session open (V2)") }, "STATUS=session open (V2)"},
		{"empty status", func(n *sdnotify.Notifier) error { return n.Status("") }, "STATUS="},
		{"stopping", (*sdnotify.Notifier).Stopping, "STOPPING=1"},
		{"watchdog", (*sdnotify.Notifier).Watchdog, "WATCHDOG=1"},
		{"extend", func(n *sdnotify.Notifier) error { return n.ExtendTimeout(90 * time.Second) }, "EXTEND_TIMEOUT_USEC=90000000"},
		{"extend rounds up", func(n *sdnotify.Notifier) error { return n.ExtendTimeout(1500 * time.Nanosecond) }, "EXTEND_TIMEOUT_USEC=2"},
		{"combined", func(n *sdnotify.Notifier) error { return n.Send("READY=1", "STATUS=session open") }, "READY=1\nSTATUS=session open"},
	}
	for _, sock := range sockets {
		t.Run(sock.name, func(t *testing.T) {
			conn := listen(t, sock.addr(t))
			n := sdnotify.FromEnv()
			if n == nil {
				t.Fatal("FromEnv() = nil with NOTIFY_SOCKET set")
			}
			for _, m := range messages {
				if err := m.send(n); err != nil {
					t.Fatalf("%s: %v", m.name, err)
				}
				if got := receive(t, conn); got != m.want {
					t.Errorf("%s: datagram %q, want %q", m.name, got, m.want)
				}
			}
		})
	}
}

func TestRefusedFields(t *testing.T) {
	conn := listen(t, filepath.Join(t.TempDir(), "notify.sock"))
	n := sdnotify.FromEnv()
	tests := []struct {
		name string
		send func() error
	}{
		{"newline in status", func() error { return n.Status("a\nREADY=1") }},
		{"no equals sign", func() error { return n.Send("READY") }},
		{"empty key", func() error { return n.Send("=1") }},
		{"one bad field of two", func() error { return n.Send("READY=1", "junk") }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.send(); !errors.Is(err, sdnotify.ErrBadField) {
				t.Errorf("error %v, want ErrBadField", err)
			}
		})
	}
	for _, err := range []error{n.Send(), n.ExtendTimeout(0), n.ExtendTimeout(-time.Second)} {
		if err == nil {
			t.Errorf("no error for an empty or non-positive message")
		}
	}
	// Nothing was sent: the next datagram is the one sent now.
	if err := n.Ready(); err != nil {
		t.Fatal(err)
	}
	if got := receive(t, conn); got != "READY=1" {
		t.Errorf("datagram %q, want READY=1 (a refused message was sent)", got)
	}
}

func TestNoSocket(t *testing.T) {
	t.Setenv(sdnotify.EnvSocket, "")
	t.Setenv(sdnotify.EnvWatchdogUsec, "30000000")
	n := sdnotify.FromEnv()
	if n != nil {
		t.Fatalf("FromEnv() = %v without NOTIFY_SOCKET, want nil", n)
	}
	for name, err := range map[string]error{
		"Ready": n.Ready(), "Status": n.Status("x"), "Stopping": n.Stopping(), "Watchdog": n.Watchdog(),
		"ExtendTimeout": n.ExtendTimeout(time.Second), "Send": n.Send("X=1"),
	} {
		if err != nil {
			t.Errorf("nil Notifier: %s: %v", name, err)
		}
	}
	if d, ok := n.WatchdogInterval(); ok || d != 0 {
		t.Errorf("nil Notifier: WatchdogInterval() = %v, %v; want 0, false", d, ok)
	}
}

func TestSocketGone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify.sock")
	t.Setenv(sdnotify.EnvSocket, path)
	if err := sdnotify.FromEnv().Ready(); err == nil {
		t.Error("Ready() to a missing socket: no error")
	}
}

func TestWatchdogInterval(t *testing.T) {
	self := strconv.Itoa(os.Getpid())
	tests := []struct {
		name      string
		usec, pid string
		want      time.Duration
		wantOK    bool
	}{
		{"no watchdog", "", "", 0, false},
		{"no pid", "30000000", "", 15 * time.Second, true},
		{"this pid", "30000000", self, 15 * time.Second, true},
		{"another pid", "30000000", strconv.Itoa(os.Getpid() + 1), 0, false},
		{"bad pid", "30000000", "x", 0, false},
		{"zero", "0", "", 0, false},
		{"not a number", "30s", "", 0, false},
		{"negative", "-5", "", 0, false},
		{"odd microseconds", "3", "", 1500 * time.Nanosecond, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(sdnotify.EnvSocket, "/run/systemd/notify")
			t.Setenv(sdnotify.EnvWatchdogUsec, tc.usec)
			t.Setenv(sdnotify.EnvWatchdogPID, tc.pid)
			d, ok := sdnotify.FromEnv().WatchdogInterval()
			if d != tc.want || ok != tc.wantOK {
				t.Errorf("WatchdogInterval() = %v, %v; want %v, %v", d, ok, tc.want, tc.wantOK)
			}
		})
	}
}
