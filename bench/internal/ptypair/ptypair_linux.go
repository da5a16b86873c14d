//go:build linux

// Package ptypair makes the pseudo-terminal that plays a UART in the
// benchmarks: the bridge opens the slave through a link, as it would open
// /dev/ttyUSB0; the far end (a sink) reads and writes the master.
package ptypair

import (
	"errors"
	"fmt"
	"os"

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
	if err := control(s, MakeRaw); err != nil {
		m.Close()
		s.Close()
		return nil, fmt.Errorf("ptypair: raw mode: %w", err)
	}
	master, err := nonblocking(m)
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

// MakeRaw puts the tty behind fd in raw mode, as cfmakeraw does.
func MakeRaw(fd int) error {
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return err
	}
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR |
		unix.IGNCR | unix.ICRNL | unix.IXON | unix.IXOFF | unix.IXANY | unix.INPCK
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB
	t.Cflag |= unix.CS8 | unix.CREAD | unix.CLOCAL
	t.Cc[unix.VMIN] = 1
	t.Cc[unix.VTIME] = 0
	return unix.IoctlSetTermios(fd, unix.TCSETS, t)
}

// OpenTTY opens the tty at path (a link to a pty slave) for an
// application: read-write, not as controlling terminal, in raw mode, on
// Go's poller.
func OpenTTY(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|unix.O_NOCTTY|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	if err := control(f, MakeRaw); err != nil {
		f.Close()
		return nil, fmt.Errorf("raw mode on %s: %w", path, err)
	}
	return f, nil
}

// control runs fn on f's descriptor without taking f off the poller.
func control(f *os.File, fn func(fd int) error) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var opErr error
	if err := rc.Control(func(fd uintptr) { opErr = fn(int(fd)) }); err != nil {
		return err
	}
	return opErr
}

// nonblocking returns a non-blocking duplicate of f on Go's poller and
// closes f (creack/pty leaves the master blocking).
func nonblocking(f *os.File) (*os.File, error) {
	defer f.Close()
	var fd int
	err := control(f, func(old int) error {
		var err error
		if fd, err = unix.FcntlInt(uintptr(old), unix.F_DUPFD_CLOEXEC, 0); err != nil {
			return err
		}
		if err := unix.SetNonblock(fd, true); err != nil {
			unix.Close(fd)
			return err
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), f.Name()), nil
}
