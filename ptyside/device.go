// Package ptyside implements the plaintext side of c2cbridge: a virtual
// serial port that legacy applications (pppd, chat, picocom, pyserial) open
// as if it were the modem itself.
//
// The bridge reads what the application writes with Read, encrypts it for
// the modem UART, and hands the modem's decrypted output to Write.
// The application reaches a pseudo-terminal through a symlink at a configured
// path (Config.Link), so its configuration does not depend on which
// pseudo-terminal number the kernel hands out; or it opens the other end of
// an existing tty the bridge serves (see Backends).
//
// # Applications come and go
//
// The device outlives its applications: pppd restarts, a chat script runs
// before pppd, an operator attaches picocom for a minute. A Device therefore
// tracks whether an application has the tty open (Device.Attached and
// Config.OnAttach) and treats a departure as an ordinary event, not an error.
// While no application is attached, Read waits for the next one and Write
// discards its input (counted by Device.Dropped), so modem output meant for a
// departed application is never replayed to the next one.
//
// A departure is seen as the master's hang-up, at once while an application
// is attached. The kernel clears that hang-up when the tty is opened again,
// so an application replaced within microseconds of its close (faster than
// a new process can start) may not be seen leaving.
//
// # Backends
//
// Device is the contract of a virtual tty backend: what Read, Write and
// Close do while applications come and go. There are two:
//
//   - Open makes a Linux pseudo-terminal and links it at Config.Link: a
//     *PTY, which sees every application open and close the tty.
//   - OpenDevice serves an existing kernel tty instead (DeviceConfig.Path,
//     a USB gadget's /dev/ttyGS0 whose host side, /dev/ttyACM0, is a real
//     serial port ModemManager adopts): a *TTY. The applications hold the
//     tty's other end, which tells nothing of their coming and going; the
//     TTY sees only a hang-up (the USB link went away), after which it
//     reopens the device, so for a TTY "attached" means "open".
//
// The bridge does not import this package: it codes against bridge.App
// (Read, Write and their deadlines), which both satisfy, and
// cmd/c2cbridge opens the backend the configuration names and hands it to
// the bridge. The rest of Device (Attached, Path, Link, Dropped, Close)
// serves the program that opens it.
package ptyside

import (
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/c2cbridge/c2cbridge/internal/ttylink"
)

// Config describes the virtual tty.
type Config struct {
	// Link is the path of the symlink to create, for example /dev/ttyC2C0.
	// It is required. An existing symlink at Link is replaced; anything
	// else at Link makes Open fail with ErrLinkOccupied.
	Link string

	// Mode holds the permission bits applied to the slave device node, for
	// example 0660. Zero leaves the permissions the kernel chose.
	Mode os.FileMode

	// Group, if not empty, is the group name or numeric group id given to
	// the slave device node, for example "dialout" or "20".
	Group string

	// Logger receives the device's log records. Nil discards them.
	Logger *slog.Logger

	// OnAttach, if non-nil, is called whenever an application attaches
	// (true) or detaches (false). It is called from the device's own
	// goroutine, one call at a time, in the order the changes happened, and
	// never while the device holds a lock a caller of the device could
	// need. It should return promptly, because the device does not notice
	// further changes while it runs, and it must not call Close. It is not
	// called after Close returns; Close does not report a final detach.
	OnAttach func(attached bool)
}

// Device is what every backend of the virtual tty implements; its methods
// may be called concurrently. The bridge uses only the bridge.App part of
// it (Read, Write and their deadlines).
type Device interface {
	// Read reads bytes the application wrote. Once it has returned all a
	// departed application wrote, it blocks until another application
	// attaches and writes; it never reports a departure as an error or as
	// end of file. After Close,
	// Read, including a Read already blocked, promptly returns an error
	// for which errors.Is(err, ErrClosed) reports true.
	Read(p []byte) (int, error)

	// SetReadDeadline makes pending and future Read calls return an error
	// wrapping os.ErrDeadlineExceeded once t has passed; zero means none.
	SetReadDeadline(t time.Time) error

	// Write delivers p to the application. It may block while the
	// application does not read (back-pressure), but it returns once the
	// application departs or the device is closed. While no application is
	// attached, p is discarded, counted by Dropped, and Write returns
	// len(p), nil. If the application departs during a Write, the rest of
	// p is discarded and counted in the same way. After Close, Write
	// returns an error for which errors.Is(err, ErrClosed) reports true.
	Write(p []byte) (int, error)

	// SetWriteDeadline makes pending and future Write calls that are
	// blocked on an application that does not read return the bytes
	// written so far and an error wrapping os.ErrDeadlineExceeded once t
	// has passed; zero means none.
	SetWriteDeadline(t time.Time) error

	// Close removes the link if it still points at the device, releases
	// the tty, and unblocks pending Read and Write calls. It waits for the
	// device's goroutines to finish. Calling Close again returns the
	// result of the first call.
	Close() error

	// Attached reports whether an application has the tty open, as far
	// as the backend can tell (a TTY: whether the device is open).
	Attached() bool

	// Path returns the path of the device node the link points at, for
	// example /dev/pts/3.
	Path() string

	// Link returns the path of the symlink, as given in Config.Link, or
	// "" if the backend makes none.
	Link() string

	// Dropped returns the number of bytes Write discarded because no
	// application was attached.
	Dropped() uint64
}

// ErrClosed is returned (wrapped) by Read and Write after Close. For
// convenience, errors.Is reports true when it is compared with os.ErrClosed or
// net.ErrClosed as well as with ErrClosed itself.
var ErrClosed error = closedError{}

// ErrLinkOccupied is returned (wrapped) by Open when something other than a
// symlink exists at Config.Link. Open never replaces such a file.
var ErrLinkOccupied = ttylink.ErrOccupied

// closedError is the type of ErrClosed.
type closedError struct{}

func (closedError) Error() string { return "virtual tty closed" }

// Is makes ErrClosed match the standard library's closed-file and
// closed-connection errors, so callers can use whichever they already check.
func (closedError) Is(target error) bool {
	return target == os.ErrClosed || target == net.ErrClosed
}
