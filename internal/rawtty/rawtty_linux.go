//go:build linux

// Package rawtty holds the pseudo-terminal plumbing the virtual tty, the
// simulated module and the benchmarks share: raw mode, and a master
// descriptor Go's poller serves.
package rawtty

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Control runs fn on f's descriptor without taking f off the poller (as
// f.Fd would).
func Control(f *os.File, fn func(fd int) error) error {
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

// SetRaw turns t into raw mode, as cfmakeraw(3) does, and also disables
// software flow control in both directions: 8 data bits, no parity, no
// echo, no signals, no line editing, and no translation of any byte either
// way.
func SetRaw(t *unix.Termios) {
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR |
		unix.IGNCR | unix.ICRNL | unix.IXON | unix.IXOFF | unix.IXANY | unix.INPCK | unix.IMAXBEL
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB
	t.Cflag |= unix.CS8 | unix.CREAD | unix.CLOCAL
	t.Cc[unix.VMIN] = 1
	t.Cc[unix.VTIME] = 0
}

// MakeRaw sets the tty behind fd to raw mode (SetRaw).
func MakeRaw(fd int) error {
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return fmt.Errorf("get termios: %w", err)
	}
	SetRaw(t)
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, t); err != nil {
		return fmt.Errorf("set termios: %w", err)
	}
	return nil
}

// Nonblocking returns a non-blocking duplicate of f, which Go's poller
// serves (so deadlines work and Close wakes a blocked Read or Write), and
// closes f. creack/pty leaves the master blocking.
func Nonblocking(f *os.File) (*os.File, error) {
	defer f.Close()
	var fd int
	err := Control(f, func(old int) error {
		var err error
		if fd, err = unix.FcntlInt(uintptr(old), unix.F_DUPFD_CLOEXEC, 0); err != nil {
			return fmt.Errorf("dup: %w", err)
		}
		if err := unix.SetNonblock(fd, true); err != nil {
			unix.Close(fd)
			return fmt.Errorf("set non-blocking: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), f.Name()), nil
}
