// Package sdnotify speaks the systemd service notification protocol
// (sd_notify(3)) with the standard library only.
//
// A service of Type=notify tells the service manager about its state by
// sending newline-separated KEY=VALUE fields in one datagram to the unix
// socket named by $NOTIFY_SOCKET: READY=1 once it serves, STATUS=... for a
// one-line status shown by systemctl status, WATCHDOG=1 as the keep-alive
// ping when WatchdogSec= is set, EXTEND_TIMEOUT_USEC=... while a slow
// start-up or shutdown is still progressing, and STOPPING=1 when it begins
// to shut down.
//
// FromEnv returns nil when the process was not started by systemd (no
// $NOTIFY_SOCKET); every method of a nil *Notifier does nothing and returns
// nil, so callers never need to check.
package sdnotify

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// Environment variables the service manager sets.
const (
	// EnvSocket names the notification socket: a path, or an abstract
	// socket name when it starts with '@'.
	EnvSocket = "NOTIFY_SOCKET"
	// EnvWatchdogUsec is the watchdog timeout in microseconds.
	EnvWatchdogUsec = "WATCHDOG_USEC"
	// EnvWatchdogPID, if set, is the process the watchdog applies to.
	EnvWatchdogPID = "WATCHDOG_PID"
)

// sendTimeout bounds the write of one notification, so that a service
// manager that stopped reading cannot stall the caller for long.
const sendTimeout = 2 * time.Second

// ErrBadField is wrapped by Send's error for a field that is not KEY=VALUE
// or that holds a newline (which would split it into two fields).
var ErrBadField = errors.New("not a KEY=VALUE notification field")

// Notifier sends notifications to the service manager. A nil *Notifier is
// valid and sends nothing. A Notifier holds no open descriptor: each
// message goes out in a datagram of its own, so there is nothing to close,
// and it is safe for concurrent use.
type Notifier struct {
	addr     *net.UnixAddr
	watchdog time.Duration // the manager's watchdog timeout for this process; 0 when none
}

// FromEnv returns a Notifier for $NOTIFY_SOCKET, or nil when it is unset or
// empty. It also reads $WATCHDOG_USEC and $WATCHDOG_PID for
// WatchdogInterval. The environment is left unchanged.
func FromEnv() *Notifier {
	socket := os.Getenv(EnvSocket)
	if socket == "" {
		return nil
	}
	return &Notifier{
		addr:     &net.UnixAddr{Name: socket, Net: "unixgram"},
		watchdog: watchdogTimeout(os.Getenv(EnvWatchdogUsec), os.Getenv(EnvWatchdogPID), os.Getpid()),
	}
}

// watchdogTimeout parses $WATCHDOG_USEC and $WATCHDOG_PID as
// sd_watchdog_enabled(3) does: the timeout applies to this process when
// the PID is unset or equals pid. It returns 0 when no watchdog applies or
// a value does not parse.
func watchdogTimeout(usec, wpid string, pid int) time.Duration {
	if usec == "" {
		return 0
	}
	if wpid != "" {
		p, err := strconv.Atoi(wpid)
		if err != nil || p != pid {
			return 0
		}
	}
	u, err := strconv.ParseUint(usec, 10, 64)
	if err != nil || u == 0 || u > uint64(1<<63-1)/uint64(time.Microsecond) {
		return 0
	}
	return time.Duration(u) * time.Microsecond
}

// Ready tells the service manager that start-up is complete (READY=1).
func (n *Notifier) Ready() error { return n.Send("READY=1") }

// Status sets the one-line status systemctl status shows (STATUS=s). A
// newline in s is an error.
func (n *Notifier) Status(s string) error { return n.Send("STATUS=" + s) }

// Stopping tells the service manager that shutdown has begun (STOPPING=1).
func (n *Notifier) Stopping() error { return n.Send("STOPPING=1") }

// Watchdog sends the watchdog keep-alive ping (WATCHDOG=1).
func (n *Notifier) Watchdog() error { return n.Send("WATCHDOG=1") }

// ExtendTimeout asks the service manager to allow d more from now for the
// start-up or shutdown in progress (EXTEND_TIMEOUT_USEC=...). It must be
// sent again before d passes for a further extension; d must be positive.
func (n *Notifier) ExtendTimeout(d time.Duration) error {
	if n == nil {
		return nil
	}
	if d <= 0 {
		return fmt.Errorf("sdnotify: extend timeout by %v: not a positive duration", d)
	}
	usec := (d + time.Microsecond - 1) / time.Microsecond // rounded up: never 0
	return n.Send("EXTEND_TIMEOUT_USEC=" + strconv.FormatInt(int64(usec), 10))
}

// Send sends fields, each KEY=VALUE, in one datagram, separated by
// newlines: Send("READY=1", "STATUS=serving") reports both at once. A field
// without a KEY= prefix, or holding a newline or NUL byte, is refused with
// ErrBadField and nothing is sent.
func (n *Notifier) Send(fields ...string) error {
	if n == nil {
		return nil
	}
	if len(fields) == 0 {
		return errors.New("sdnotify: send: no fields")
	}
	for _, f := range fields {
		if k, _, ok := strings.Cut(f, "="); !ok || k == "" || strings.ContainsAny(f, "\n\x00") {
			return fmt.Errorf("sdnotify: send %q: %w", f, ErrBadField)
		}
	}
	msg := strings.Join(fields, "\n")
	conn, err := net.DialUnix("unixgram", nil, n.addr)
	if err != nil {
		return fmt.Errorf("sdnotify: connect to %s=%s: %w", EnvSocket, n.addr.Name, err)
	}
	defer conn.Close()
	if err := conn.SetWriteDeadline(time.Now().Add(sendTimeout)); err != nil {
		return fmt.Errorf("sdnotify: send to %s: %w", n.addr.Name, err)
	}
	if _, err := conn.Write([]byte(msg)); err != nil {
		return fmt.Errorf("sdnotify: send to %s: %w", n.addr.Name, err)
	}
	return nil
}

// WatchdogInterval returns how often to send Watchdog: half the service
// manager's watchdog timeout ($WATCHDOG_USEC), as sd_watchdog_enabled(3)
// recommends. ok is false when no watchdog applies to this process: no
// $NOTIFY_SOCKET, no or an invalid $WATCHDOG_USEC, or a $WATCHDOG_PID that
// names another process.
func (n *Notifier) WatchdogInterval() (interval time.Duration, ok bool) {
	if n == nil || n.watchdog <= 0 {
		return 0, false
	}
	return n.watchdog / 2, true
}
