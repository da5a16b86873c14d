//go:build linux

package modemsim

import (
	"bytes"
	"context"
	"errors"
	"github.com/c2cbridge/c2cbridge/internal/rawtty"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	c2c "github.com/c2cbridge/c2cbridge/crypto"
	"golang.org/x/sys/unix"
)

// startPTY serves a new module on a pty linked in a temporary directory.
func startPTY(t *testing.T, cfg Config) (*Module, *PTYServer) {
	t.Helper()
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(t.TempDir(), "ttyModem0")
	srv, err := ServePTY(context.Background(), m, link)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Close()
		m.Close()
		if _, err := os.Lstat(link); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("link left behind after Close: %v", err)
		}
	})
	return m, srv
}

// openLink opens the module's port as the bridge would.
func openLink(t *testing.T, path string) *client {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	return newClient(t, f)
}

func TestPTY(t *testing.T) {
	guard := 100 * time.Millisecond
	s := testSecrets(t, c2c.V2)
	m, srv := startPTY(t, Config{Secrets: s, EscapeGuard: guard})
	if target, err := os.Readlink(srv.Path()); err != nil || target != srv.TTY() {
		t.Fatalf("link %s -> %q (%v), want %s", srv.Path(), target, err, srv.TTY())
	}
	c := openLink(t, srv.Path())
	if got := c.cmd("AT+CGMI"); got != "\r\nu-blox\r\n\r\nOK\r\n" {
		t.Fatalf("AT+CGMI over the pty: %q", got)
	}

	// 8-bit clean in both directions: every byte value, in plain data mode.
	if got := c.cmd("ATD*99#"); got != "\r\nCONNECT\r\n" {
		t.Fatalf("ATD: %q", got)
	}
	all := make([]byte, 0, 1024)
	for range 4 {
		for i := range 256 {
			if b := byte(i); b != '+' {
				all = append(all, b)
			}
		}
	}
	c.write(all)
	if got := c.next(plainS, len(all)); !bytes.Equal(got, all) {
		t.Fatalf("pty is not 8-bit clean:\n got %q\nwant %q", got, all)
	}
	time.Sleep(2 * guard)
	c.send("+++")
	if got := c.response(plainS); got != "\r\nOK\r\n" {
		t.Fatalf("escape: %q", got)
	}
	c.cmd("ATH")

	c.mustOpen(s)
	if got := c.scmd("AT"); got != "\r\nOK\r\n" {
		t.Fatalf("AT in session over the pty: %q", got)
	}
	oldTTY := srv.TTY()

	// Unplug: the adapter vanishes, the module keeps its session.
	srv.Unplug(300 * time.Millisecond)
	if _, err := os.Lstat(srv.Path()); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("link still there after Unplug: %v", err)
	}
	if srv.TTY() != "" {
		t.Errorf("TTY while unplugged: %q", srv.TTY())
	}
	c.wait("hangup", func() bool { return c.readErr != nil })
	if st := m.Stats(); !st.InSession || st.Unplugs != 1 || st.Connected {
		t.Errorf("stats while unplugged %+v", st)
	}
	deadline := time.Now().Add(hang)
	for {
		if _, err := os.Stat(srv.Path()); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("link did not come back")
		}
		time.Sleep(5 * time.Millisecond)
	}
	waitStats(t, m, func(st Stats) bool { return st.Connected })
	if srv.TTY() == "" {
		t.Error("no TTY after replug")
	}
	t.Logf("replugged: %s, before %s", srv.TTY(), oldTTY)

	c2 := openLink(t, srv.Path())
	c2.resume(s)
	if got := c2.scmd("AT+CGMM"); got != "\r\nSARA-R510M8S\r\n\r\nOK\r\n" {
		t.Fatalf("session after replug: %q", got)
	}
	if got := c2.end("AT+USECC2C=2"); got != "\r\nOK\r\n" {
		t.Fatalf("close: %q", got)
	}
	if got := c2.cmd("AT"); got != "\r\nOK\r\n" {
		t.Fatalf("plain AT after close: %q", got)
	}
	for _, e := range []string{"unplug", "replug"} {
		if !m.HasEvent(e) {
			t.Errorf("no %q event in %v", e, m.Events())
		}
	}
	if st := m.Stats(); st.PlainBytesInSession != 0 || st.Opens != 1 || st.Closes != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestPTYStaleLinkAndExclusive(t *testing.T) {
	dir := t.TempDir()
	link := filepath.Join(dir, "ttyModem0")
	if err := os.Symlink("/dev/null", link); err != nil {
		t.Fatal(err)
	}
	m, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	srv, err := ServePTY(context.Background(), m, link)
	if err != nil {
		t.Fatalf("stale link not replaced: %v", err)
	}
	defer srv.Close()
	if target, _ := os.Readlink(link); target != srv.TTY() {
		t.Errorf("link points to %q", target)
	}

	// The exclusive flag stays until cleared.
	f, err := os.OpenFile(link, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	excl := func(f *os.File) uint32 {
		var v uint32
		if err := rawtty.Control(f, func(fd int) error {
			var err error
			v, err = unix.IoctlGetUint32(fd, unix.TIOCGEXCL)
			return err
		}); err != nil {
			t.Skipf("TIOCGEXCL: %v", err)
		}
		return v
	}
	if err := rawtty.Control(f, func(fd int) error { return unix.IoctlSetInt(fd, unix.TIOCEXCL, 0) }); err != nil {
		t.Fatal(err)
	}
	if excl(f) != 1 {
		t.Fatal("TIOCEXCL not set")
	}
	if err := srv.ClearExclusive(); err != nil {
		t.Fatal(err)
	}
	if excl(f) != 0 {
		t.Error("ClearExclusive left the flag set")
	}
	f.Close()

	// A file that is not a symlink is not replaced.
	other := filepath.Join(dir, "regular")
	if err := os.WriteFile(other, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	m2, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	if s2, err := ServePTY(context.Background(), m2, other); err == nil {
		s2.Close()
		t.Error("ServePTY replaced a regular file")
	}
}

func TestPTYCloseUnblocks(t *testing.T) {
	m, srv := startPTY(t, Config{})
	f, err := os.OpenFile(srv.Path(), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// Much more output than the pty holds, and nobody reads it.
	f.Write([]byte("AT+TBIG=500000\r"))
	waitStats(t, m, func(st Stats) bool { return st.Commands == 1 && st.BytesOut > 0 })
	done := make(chan struct{})
	go func() {
		srv.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(hang):
		t.Fatal("Close blocked on a full pty")
	}
}

// TestPTYReleaseExclusive: with PTYOptions.ReleaseExclusive the flag goes
// with the last program's close, as on a real tty, and not before.
func TestPTYReleaseExclusive(t *testing.T) {
	m, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(t.TempDir(), "ttyModem0")
	srv, err := ServePTYOptions(context.Background(), m, link, PTYOptions{ReleaseExclusive: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	defer srv.Close()
	excl := func() uint32 {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		var v uint32
		if err := rawtty.Control(srv.cur.slave, func(fd int) error {
			var err error
			v, err = unix.IoctlGetUint32(fd, unix.TIOCGEXCL)
			return err
		}); err != nil {
			t.Skipf("TIOCGEXCL: %v", err)
		}
		return v
	}
	open := func() *os.File {
		f, err := os.OpenFile(link, os.O_RDWR|unix.O_NOCTTY, 0)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	waitExcl := func(want uint32) {
		t.Helper()
		deadline := time.Now().Add(hang)
		for excl() != want {
			if time.Now().After(deadline) {
				t.Fatalf("TIOCEXCL stays %d, want %d", excl(), want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	for round := range 2 { // the count starts again after a release
		a, b := open(), open()
		if err := rawtty.Control(a, func(fd int) error { return unix.IoctlSetInt(fd, unix.TIOCEXCL, 0) }); err != nil {
			t.Fatal(err)
		}
		waitExcl(1)
		a.Close()
		time.Sleep(50 * time.Millisecond)
		if excl() != 1 {
			t.Fatalf("round %d: the flag went while a program still had the tty open", round)
		}
		b.Close()
		waitExcl(0)
	}
}
