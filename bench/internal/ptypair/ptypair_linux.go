//go:build linux

// Package ptypair makes the pseudo-terminal that plays a UART in the
// benchmarks: the bridge opens the slave through a link, as it would open
// /dev/ttyUSB0; the far end (a sink) reads and writes the master.
package ptypair

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/c2cbridge/c2cbridge/internal/rawio"
	"github.com/c2cbridge/c2cbridge/internal/rawtty"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// Pair is one raw pty whose slave is linked at a path.
type Pair struct {
	// Master is the far end's side, non-blocking on Go's poller, so
	// Close wakes a blocked Read.
	Master *os.File
	slave  *os.File // held open so the master never reads EIO between users
	link   string
}

// Open creates a pty in raw mode (8 bits, no echo, no translation) and
// links its slave at link, replacing a symlink already there.
func Open(link string) (*Pair, error) {
	m, s, err := pty.Open()
	if err != nil {
		return nil, fmt.Errorf("ptypair: %w", err)
	}
	if err := rawtty.Control(s, MakeRaw); err != nil {
		m.Close()
		s.Close()
		return nil, fmt.Errorf("ptypair: raw mode: %w", err)
	}
	master, err := rawtty.Nonblocking(m)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("ptypair: %w", err)
	}
	_ = os.Remove(link)
	if err := os.Symlink(s.Name(), link); err != nil {
		master.Close()
		s.Close()
		return nil, fmt.Errorf("ptypair: %w", err)
	}
	return &Pair{Master: master, slave: s, link: link}, nil
}

// Close closes both ends and removes the link.
func (p *Pair) Close() error {
	err := errors.Join(p.Master.Close(), p.slave.Close())
	_ = os.Remove(p.link)
	return err
}

// MakeRaw sets the tty behind fd to raw mode (see rawtty.MakeRaw).
func MakeRaw(fd int) error { return rawtty.MakeRaw(fd) }

// OpenTTY opens the tty at path (a link to a pty slave) for an
// application: read-write, not as controlling terminal, in raw mode, on
// Go's poller.
func OpenTTY(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|unix.O_NOCTTY|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	if err := rawtty.Control(f, MakeRaw); err != nil {
		f.Close()
		return nil, fmt.Errorf("raw mode on %s: %w", path, err)
	}
	return f, nil
}

// RawFile reads and writes a non-blocking file the way the bridge does
// (internal/rawio: raw system calls, Go's poller only to wait), so that
// the harness's own ends cost what the bridge's cost, for every relay
// measured. Deadlines and Close are the file's.
type RawFile struct {
	f  *os.File
	rc syscall.RawConn
}

// Raw returns a RawFile for f, which must be non-blocking on Go's poller
// (as Open's master and OpenTTY's file are).
func Raw(f *os.File) (*RawFile, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("ptypair: %w", err)
	}
	return &RawFile{f: f, rc: rc}, nil
}

// Read reads into b, waiting until something is there.
func (r *RawFile) Read(b []byte) (int, error) { return rawio.Read(r.rc, b) }

// Write writes all of b, waiting while the pty is full.
func (r *RawFile) Write(b []byte) (int, error) { return rawio.Write(r.rc, b) }
