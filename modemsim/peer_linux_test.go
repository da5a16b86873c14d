//go:build linux

package modemsim

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/c2cbridge/c2cbridge/internal/rawtty"
	"golang.org/x/sys/unix"
)

// openPeer opens the data peer's link as pppd would, raw, and returns a
// channel of what it reads (closed at a read error: the hang-up).
func openPeer(t *testing.T, path string) (*os.File, chan []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := rawtty.Control(f, rawtty.MakeRaw); err != nil {
		t.Fatal(err)
	}
	got := make(chan []byte, 64)
	go func() {
		defer close(got)
		buf := make([]byte, 4096)
		for {
			n, err := f.Read(buf)
			if n > 0 {
				got <- bytes.Clone(buf[:n])
			}
			if err != nil || n == 0 {
				return
			}
		}
	}()
	t.Cleanup(func() { f.Close() })
	return f, got
}

func readPeer(t *testing.T, got chan []byte, n int) string {
	t.Helper()
	var b []byte
	for len(b) < n {
		select {
		case p, ok := <-got:
			if !ok {
				t.Fatalf("peer hung up after %q", b)
			}
			b = append(b, p...)
		case <-time.After(hang):
			t.Fatalf("peer: timed out after %q", b)
		}
	}
	return string(b)
}

// TestDataPeerPTY: a peer on the data peer's pty carries a call; its
// hang-up gives NO CARRIER; ATH hangs it up and a new pty is linked.
func TestDataPeerPTY(t *testing.T) {
	guard := 100 * time.Millisecond
	m, srv := startPTY(t, Config{EscapeGuard: guard, Network: true})
	peerLink := filepath.Join(t.TempDir(), "ttyPeer")
	gid := os.Getgid()
	ps, err := ServeDataPeer(context.Background(), m, peerLink, PTYOptions{Mode: 0o660, GID: gid})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ps.Close()
		if _, err := os.Lstat(peerLink); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("peer link left behind after Close: %v", err)
		}
	})
	fi, err := os.Stat(peerLink)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o660 {
		t.Errorf("peer pty mode %v, want 0660", fi.Mode().Perm())
	}
	if m.Stats().Network {
		t.Fatal("network served before a peer opened the pty")
	}
	c := openLink(t, srv.Path())

	pf, got := openPeer(t, peerLink)
	waitStats(t, m, func(st Stats) bool { return st.Network })
	if got := c.cmd("ATD*99#"); got != "\r\nCONNECT\r\n" {
		t.Fatalf("ATD: %q", got)
	}
	c.send("hello network")
	if s := readPeer(t, got, len("hello network")); s != "hello network" {
		t.Fatalf("peer got %q", s)
	}
	if _, err := pf.Write([]byte("hello host")); err != nil {
		t.Fatal(err)
	}
	c.expect(plainS, "hello host")

	// The peer hangs up: NO CARRIER, and the same pty waits for the next.
	tty := ps.TTY()
	pf.Close()
	if got := c.response(plainS); got != "\r\nNO CARRIER\r\n" {
		t.Fatalf("peer hang-up: %q", got)
	}
	waitStats(t, m, func(st Stats) bool { return !st.Network })
	pf, got = openPeer(t, peerLink)
	waitStats(t, m, func(st Stats) bool { return st.Network })
	if ps.TTY() != tty {
		t.Errorf("pty changed after the peer hung up: %s, was %s", ps.TTY(), tty)
	}

	// ATH hangs the peer up and links a fresh pty.
	if got := c.cmd("ATD*99#"); got != "\r\nCONNECT\r\n" {
		t.Fatalf("ATD: %q", got)
	}
	c.send("again")
	readPeer(t, got, len("again"))
	time.Sleep(2 * guard)
	c.send("+++")
	if got := c.response(plainS); got != "\r\nOK\r\n" {
		t.Fatalf("escape: %q", got)
	}
	if got := c.cmd("ATH"); got != "\r\nOK\r\n" {
		t.Fatalf("ATH: %q", got)
	}
	select {
	case _, ok := <-got:
		for ok {
			_, ok = <-got
		}
	case <-time.After(hang):
		t.Fatal("the peer was not hung up by ATH")
	}
	pf.Close()
	deadline := time.Now().Add(hang)
	for ps.TTY() == tty || ps.TTY() == "" {
		if time.Now().After(deadline) {
			t.Fatal("no new pty after ATH")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if target, err := os.Readlink(peerLink); err != nil || target != ps.TTY() {
		t.Fatalf("peer link -> %q (%v), want %s", target, err, ps.TTY())
	}
	_, got = openPeer(t, peerLink)
	waitStats(t, m, func(st Stats) bool { return st.Network })
	if got := c.cmd("ATD*99#"); got != "\r\nCONNECT\r\n" {
		t.Fatalf("ATD: %q", got)
	}
	c.send("third call")
	if s := readPeer(t, got, len("third call")); s != "third call" {
		t.Fatalf("peer got %q", s)
	}
}
