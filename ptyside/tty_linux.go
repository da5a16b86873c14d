//go:build linux

package ptyside

import (
	"errors"
	"fmt"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// getTermios returns the terminal attributes of the tty behind rc. On a
// pseudo-terminal master they are those of the slave.
func getTermios(rc syscall.RawConn) (*unix.Termios, error) {
	var t *unix.Termios
	var opErr error
	if err := rc.Control(func(fd uintptr) {
		t, opErr = unix.IoctlGetTermios(int(fd), unix.TCGETS)
	}); err != nil {
		return nil, err
	}
	if opErr != nil {
		return nil, fmt.Errorf("get termios: %w", opErr)
	}
	return t, nil
}

// setTermios sets the terminal attributes of the tty behind rc. Set through
// a pseudo-terminal master, they apply to the slave, whether or not anyone
// has it open.
func setTermios(rc syscall.RawConn, t *unix.Termios) error {
	var opErr error
	if err := rc.Control(func(fd uintptr) {
		opErr = unix.IoctlSetTermios(int(fd), unix.TCSETS, t)
	}); err != nil {
		return err
	}
	if opErr != nil {
		return fmt.Errorf("set termios: %w", opErr)
	}
	return nil
}

// openPeer opens the slave of the pseudo-terminal master behind rc, without
// making it a controlling terminal and without blocking. It uses
// TIOCGPTPEER, which needs no path and no permission on the device node,
// and falls back to opening path on kernels older than 4.13.
func openPeer(rc syscall.RawConn, path string) (int, error) {
	const flags = unix.O_RDWR | unix.O_NOCTTY | unix.O_NONBLOCK | unix.O_CLOEXEC
	fd := -1
	var errno syscall.Errno
	if err := rc.Control(func(m uintptr) {
		r, _, e := unix.Syscall(unix.SYS_IOCTL, m, unix.TIOCGPTPEER, flags)
		fd, errno = int(r), e
	}); err != nil {
		return -1, err
	}
	if errno == 0 {
		return fd, nil
	}
	if !errors.Is(errno, unix.ENOTTY) && !errors.Is(errno, unix.EINVAL) {
		return -1, fmt.Errorf("open slave: %w", errno)
	}
	fd, err := unix.Open(path, flags, 0)
	if err != nil {
		return -1, fmt.Errorf("open slave %s: %w", path, err)
	}
	return fd, nil
}

// resetSlave returns the slave of the master behind rc to the state a new
// application should find: it discards output the previous application
// left unread, clears exclusive mode (TIOCEXCL, which would otherwise lock
// out every non-root opener), and reapplies raw.
//
// The discarding needs a slave descriptor: a flush through the master
// (TCFLSH) only empties the kernel's flip buffer, not the line discipline's
// read buffer the next opener reads from.
func resetSlave(rc syscall.RawConn, path string, raw *unix.Termios) error {
	fd, err := openPeer(rc, path)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	var errs []error
	if err := unix.IoctlSetInt(fd, unix.TCFLSH, unix.TCIFLUSH); err != nil {
		errs = append(errs, fmt.Errorf("flush slave input: %w", err))
	}
	if err := unix.IoctlSetInt(fd, unix.TIOCNXCL, 0); err != nil {
		errs = append(errs, fmt.Errorf("clear exclusive mode: %w", err))
	}
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, raw); err != nil {
		errs = append(errs, fmt.Errorf("set termios: %w", err))
	}
	return errors.Join(errs...)
}

// hungUp reports whether the master behind rc is hung up, that is whether
// no process has the slave open.
func hungUp(rc syscall.RawConn) (bool, error) {
	fds := []unix.PollFd{{Events: unix.POLLIN}}
	var err error
	if cerr := rc.Control(func(fd uintptr) {
		fds[0].Fd = int32(fd)
		err = poll(fds, 0)
	}); cerr != nil {
		return false, cerr
	}
	if err != nil {
		return false, err
	}
	return fds[0].Revents&unix.POLLHUP != 0, nil
}

// poll waits for events on fds as poll(2) does, for at most timeout (at
// millisecond resolution), or without a limit if timeout is negative.
func poll(fds []unix.PollFd, timeout time.Duration) error {
	ms := -1
	if timeout >= 0 {
		ms = int(timeout / time.Millisecond)
	}
	for {
		_, err := unix.Poll(fds, ms)
		if err != unix.EINTR {
			if err != nil {
				return fmt.Errorf("poll: %w", err)
			}
			return nil
		}
	}
}
