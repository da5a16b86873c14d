//go:build linux

package modemsim

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	c2c "github.com/c2cbridge/c2cbridge/crypto"
	"github.com/c2cbridge/c2cbridge/internal/rawtty"
	"github.com/c2cbridge/c2cbridge/internal/ttylink"
	"github.com/creack/pty"
)

// fakeDevice is a tty for ServeDevice: a pty whose slave a symlink names
// (a gadget's /dev/ttyGS0 stands still; a pty's /dev/pts/N does not, so
// the symlink is the stable name). The test is the far end, on the
// master.
type fakeDevice struct {
	t     *testing.T
	path  string
	slave *os.File // held until the module has opened it
}

// plug makes a new pty at d.path and returns its master.
func (d *fakeDevice) plug() *os.File {
	d.t.Helper()
	master, slave, err := pty.Open()
	if err != nil {
		d.t.Fatal(err)
	}
	nb, err := rawtty.Nonblocking(master)
	if err != nil {
		d.t.Fatal(err)
	}
	if err := ttylink.Create(d.path, slave.Name(), slog.New(slog.DiscardHandler)); err != nil {
		d.t.Fatal(err)
	}
	d.slave = slave
	return nb
}

// TestDevice serves an existing tty, which hangs up (its master closes) in
// the middle of a call in a session; the server reopens the path once a
// tty is back there and the module carries on with its session and call.
func TestDevice(t *testing.T) {
	guard := 100 * time.Millisecond
	s := testSecrets(t, c2c.V2)
	m, err := New(Config{Secrets: s, EscapeGuard: guard})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	d := &fakeDevice{t: t, path: filepath.Join(dir, "ttyGS0")}
	master := d.plug()
	link := filepath.Join(dir, "modem")
	srv, err := ServeDevice(context.Background(), m, d.path, link)
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
	if target, err := os.Readlink(link); err != nil || target != d.path {
		t.Fatalf("link -> %q (%v), want %s", target, err, d.path)
	}
	d.slave.Close() // the module has it open now
	c := newClient(t, master)
	c.mustOpen(s)
	if got := c.scmd("ATD*99#"); got != "\r\nCONNECT\r\n" {
		t.Fatalf("ATD: %q", got)
	}
	c.sendFramed("before")
	c.expect(ptS, "before")

	// Hang up: the tty goes away; nothing is at the path for a while.
	// The name goes first: /dev/pts/N may soon be another program's pty.
	if err := os.Remove(d.path); err != nil {
		t.Fatal(err)
	}
	c.close()
	waitStats(t, m, func(st Stats) bool { return st.Unplugs == 1 && !st.Connected })
	time.Sleep(3 * reopenEvery)
	if st := m.Stats(); !st.InSession || !st.DataMode || st.Connected {
		t.Fatalf("stats while hung up: %+v", st)
	}

	// Back: the server reopens the path.
	master = d.plug()
	waitStats(t, m, func(st Stats) bool { return st.Connected })
	d.slave.Close()
	c2 := newClient(t, master)
	c2.resume(s)
	data := bytes.Repeat([]byte("after the hang-up "), 100)
	c2.write(c2.seal(data))
	if got := c2.next(ptS, len(data)); !bytes.Equal(got, data) {
		t.Fatalf("call after reopen: %q", got)
	}
	time.Sleep(2 * guard)
	c2.sendFramed("+++")
	if got := c2.response(ptS); got != "\r\nOK\r\n" {
		t.Fatalf("escape: %q", got)
	}
	if got := c2.scmd("ATH"); got != "\r\nOK\r\n" {
		t.Fatalf("ATH: %q", got)
	}
	if got := c2.end("AT+USECC2C=2"); got != "\r\nOK\r\n" {
		t.Fatalf("close: %q", got)
	}
	for _, e := range []string{"unplug", "replug"} {
		if !m.HasEvent(e) {
			t.Errorf("no %q event in %v", e, m.Events())
		}
	}
	if st := m.Stats(); st.Opens != 1 || st.PlainBytesInSession != 0 || st.MACFailures != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestDeviceMissing: a device that is not there at start is an error.
func TestDeviceMissing(t *testing.T) {
	m, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := ServeDevice(context.Background(), m, filepath.Join(t.TempDir(), "nope"), ""); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("ServeDevice on a missing path: %v", err)
	}
}
