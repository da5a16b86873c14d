//go:build linux

package ptyside

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/c2cbridge/c2cbridge/internal/rawio"
	"github.com/c2cbridge/c2cbridge/internal/rawtty"
	"github.com/c2cbridge/c2cbridge/internal/ttylink"
)

// Reopen backoff of a TTY whose device hung up: the first retry after
// reopenFirst, each further one after twice the last wait, at most
// reopenMax.
const (
	reopenFirst = 100 * time.Millisecond
	reopenMax   = 2 * time.Second
)

// ErrNotTTY is returned (wrapped) by OpenDevice when DeviceConfig.Path is
// not a terminal: not a character device, or a character device that is no
// tty.
var ErrNotTTY = errors.New("not a tty")

// DeviceConfig describes an existing tty for OpenDevice.
type DeviceConfig struct {
	// Path is the tty to serve, for example /dev/ttyGS0 (a USB gadget's
	// ACM port). It is required. The applications open its other end
	// (the USB host's /dev/ttyACM<N>), so TTY makes no link to it: a
	// link would only lead a program on this machine to the bridge's own
	// end. Its permissions are udev's.
	Path string

	// Logger receives the device's log records. Nil discards them.
	Logger *slog.Logger

	// OnAttach, if non-nil, is called when the device hangs up (false)
	// and when it has been reopened after that (true); the device starts
	// attached without a call. The rules of Config.OnAttach apply: it is
	// called from the device's own goroutine, one call at a time, in
	// order, holding no lock; it should return promptly, must not call
	// Close, and is not called after Close returns.
	OnAttach func(attached bool)
}

// TTY is the backend of Device that serves an existing kernel tty, such as
// the /dev/ttyGS0 of a USB gadget, instead of making a pseudo-terminal.
//
// The bridge holds one end of such a tty and the applications the other
// (for a gadget, the USB host's /dev/ttyACM<N>, which ModemManager
// adopts). Unlike a pty's master, that end does not tell when an
// application opens or closes the other one, and Linux's ACM gadget keeps
// the host's DTR to itself: all a TTY sees is a hang-up when the USB link
// goes away (its descriptor then reads end of file or EIO, and writes EIO).
// So "attached" means that the device is open, the link up as far as the
// bridge can tell, and an application's call ends through its own +++ and
// ATH, PPP's LCP terminate or the module's NO CARRIER, not by its closing
// the port.
//
// On a hang-up TTY reports a detach (Attached false, OnAttach(false)),
// closes the device and reopens the same path, first after reopenFirst and
// then backing off up to reopenMax, until that works; then it reports an
// attach. While the device is not open, Read waits and Write discards its
// input, counted by Dropped, as a PTY does with no application attached.
//
// The device is opened read-write, not as a controlling terminal, without
// waiting for a carrier, on Go's poller, and put in the PTY's raw mode
// (8N1, no echo, no line discipline processing, CLOCAL and CREAD) at every
// open; the speed and flow control are left as they are.
type TTY struct {
	log      *slog.Logger
	path     string
	onAttach func(bool)

	mu      sync.Mutex      // guards the fields below
	f       *os.File        // the open device; nil while it is being reopened and after Close
	rc      syscall.RawConn // of f
	gen     uint64          // changes with every hang-up and every reopen
	suspect uint64          // generation in which Read or Write saw a hang-up; 0 if none
	changed chan struct{}   // closed and replaced whenever f changes
	wake    int             // eventfd that wakes the reopener's poll(2); -1 once closed
	// readDeadline and writeDeadline are applied to every f, the one
	// that is open when they are set and each reopened one.
	readDeadline, writeDeadline time.Time

	dropped atomic.Uint64

	done      chan struct{} // closed by Close
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

var _ Device = (*TTY)(nil)

// OpenDevice opens the tty cfg.Path, puts it in raw mode and starts
// watching it for a hang-up. The device starts attached. It fails with an
// error wrapping fs.ErrNotExist if there is nothing at the path,
// fs.ErrPermission if it cannot be opened for reading and writing, and
// ErrNotTTY if it is no tty.
func OpenDevice(cfg DeviceConfig) (*TTY, error) {
	if cfg.Path == "" {
		return nil, errors.New("ptyside: open device: DeviceConfig.Path is empty")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f, rc, err := openTTY(cfg.Path)
	if err != nil {
		return nil, fmt.Errorf("ptyside: open device %s: %w", cfg.Path, err)
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("ptyside: open device %s: create eventfd: %w", cfg.Path, err)
	}
	t := &TTY{
		log:      log.With("device", cfg.Path),
		path:     cfg.Path,
		onAttach: cfg.OnAttach,
		f:        f,
		rc:       rc,
		gen:      1,
		changed:  make(chan struct{}),
		wake:     wake,
		done:     make(chan struct{}),
	}
	t.wg.Add(1)
	go t.run()
	t.log.Debug("existing tty opened")
	return t, nil
}

// openTTY opens the tty at path and puts it in raw mode.
func openTTY(path string) (*os.File, syscall.RawConn, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, nil, err
	}
	if fi.Mode()&fs.ModeCharDevice == 0 {
		return nil, nil, fmt.Errorf("%w: a %s, not a character device", ErrNotTTY, ttylink.DescribeType(fi.Mode()))
	}
	// O_NONBLOCK: no wait for a carrier, and the file is served by Go's
	// poller (deadlines, and Close wakes a pending Read or Write).
	f, err := os.OpenFile(path, os.O_RDWR|unix.O_NOCTTY|unix.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, fs.ErrPermission) {
			return nil, nil, fmt.Errorf("%w (the bridge needs read and write access: see the device's udev rule and group)", err)
		}
		return nil, nil, err
	}
	rc, err := f.SyscallConn()
	if err == nil {
		err = makeRaw(rc)
	}
	if err != nil {
		f.Close()
		if errors.Is(err, unix.ENOTTY) {
			return nil, nil, fmt.Errorf("%w: a character device that is not a terminal", ErrNotTTY)
		}
		return nil, nil, fmt.Errorf("set raw mode: %w", err)
	}
	return f, rc, nil
}

// makeRaw puts the tty behind rc in the raw mode a PTY uses, with one
// stop bit (8N1).
func makeRaw(rc syscall.RawConn) error {
	tio, err := getTermios(rc)
	if err != nil {
		return err
	}
	rawtty.SetRaw(tio)
	tio.Cflag &^= unix.CSTOPB
	return setTermios(rc, tio)
}

// Read implements Device.Read. While the device is being reopened after a
// hang-up it waits for it, its deadline (noticed within pollInterval) or
// Close.
func (t *TTY) Read(b []byte) (int, error) {
	if t.isClosed() {
		return 0, t.opErr("read", ErrClosed)
	}
	if len(b) == 0 {
		return 0, nil
	}
	for {
		t.mu.Lock()
		rc, gen, changed, deadline := t.rc, t.gen, t.changed, t.readDeadline
		t.mu.Unlock()
		if rc != nil {
			n, err := rawio.Read(rc, b)
			switch {
			case n > 0 || err == nil:
				return n, nil
			case t.isClosed():
				return 0, t.opErr("read", ErrClosed)
			case errors.Is(err, os.ErrDeadlineExceeded):
				return 0, t.opErr("read", err)
			case errors.Is(err, os.ErrClosed):
				// The reopener closed it after a hang-up.
			case errors.Is(err, io.EOF) || errors.Is(err, syscall.EIO):
				t.hungUp(gen)
			default:
				return 0, t.opErr("read", err)
			}
		} else if !deadline.IsZero() && !time.Now().Before(deadline) {
			return 0, t.opErr("read", os.ErrDeadlineExceeded)
		}
		if err := t.waitChange(changed, deadline); err != nil {
			return 0, err
		}
	}
}

// Write implements Device.Write.
func (t *TTY) Write(b []byte) (int, error) {
	if t.isClosed() {
		return 0, t.opErr("write", ErrClosed)
	}
	t.mu.Lock()
	rc, gen := t.rc, t.gen
	t.mu.Unlock()
	if rc == nil {
		if t.isClosed() {
			return 0, t.opErr("write", ErrClosed)
		}
		t.dropped.Add(uint64(len(b)))
		return len(b), nil
	}
	n, err := rawio.Write(rc, b)
	switch {
	case err == nil:
		return len(b), nil
	case t.isClosed():
		return n, t.opErr("write", ErrClosed)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return n, t.opErr("write", err)
	case errors.Is(err, os.ErrClosed):
		// The reopener closed it after a hang-up.
	case errors.Is(err, syscall.EIO):
		t.hungUp(gen)
	default:
		return n, t.opErr("write", err)
	}
	t.dropped.Add(uint64(len(b) - n))
	return len(b), nil
}

// SetReadDeadline implements Device.SetReadDeadline. While the device is
// being reopened, a Read notices a deadline within pollInterval.
func (t *TTY) SetReadDeadline(d time.Time) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.readDeadline = d
	if t.f == nil {
		return nil
	}
	return t.f.SetReadDeadline(d)
}

// SetWriteDeadline implements Device.SetWriteDeadline.
func (t *TTY) SetWriteDeadline(d time.Time) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.writeDeadline = d
	if t.f == nil {
		return nil
	}
	return t.f.SetWriteDeadline(d)
}

// Close implements Device.Close. It closes the device, which unblocks
// pending Read and Write calls, and waits for the goroutine that watches
// and reopens it.
func (t *TTY) Close() error {
	t.closeOnce.Do(func() {
		close(t.done)
		t.mu.Lock()
		t.wakeReopener()
		f := t.f
		t.f, t.rc = nil, nil
		t.mu.Unlock()
		var err error
		if f != nil {
			// Waits for the reopener to leave poll(2), which the
			// wake-up above ends.
			if err = f.Close(); err != nil {
				err = fmt.Errorf("ptyside: close %s: %w", t.path, err)
			}
		}
		t.wg.Wait()
		t.mu.Lock()
		unix.Close(t.wake)
		t.wake = -1
		t.mu.Unlock()
		t.closeErr = err
		t.log.Info("virtual tty closed", "dropped", t.dropped.Load())
	})
	return t.closeErr
}

// Attached reports whether the device is open: false from a hang-up until
// it has been reopened.
func (t *TTY) Attached() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.f != nil
}

// Path returns the device's path, DeviceConfig.Path.
func (t *TTY) Path() string { return t.path }

// Link returns "": a TTY makes no link.
func (t *TTY) Link() string { return "" }

// Dropped implements Device.Dropped.
func (t *TTY) Dropped() uint64 { return t.dropped.Load() }

// run is the reopener, the goroutine that alone replaces t.f and calls
// OnAttach: it waits for the device to hang up, closes it, and reopens it,
// over and over until Close.
func (t *TTY) run() {
	defer t.wg.Done()
	for {
		t.mu.Lock()
		f, rc, gen := t.f, t.rc, t.gen
		t.mu.Unlock()
		if f == nil || !t.waitHangUp(rc, gen) {
			return // Closed.
		}
		if !t.detach(f) {
			return
		}
		if !t.reopen() {
			return
		}
	}
}

// waitHangUp blocks until the device behind rc hangs up, or Read or Write
// saw it hang up in generation gen; it returns false once Close has been
// called.
func (t *TTY) waitHangUp(rc syscall.RawConn, gen uint64) bool {
	for !t.isClosed() {
		t.mu.Lock()
		seen := t.suspect == gen
		t.mu.Unlock()
		if seen {
			return true
		}
		var perr error
		fds := []unix.PollFd{{Fd: int32(t.wake), Events: unix.POLLIN}, {}}
		// With no events asked for, poll reports only the hang-up (and
		// errors), not the application's data.
		if err := rc.Control(func(fd uintptr) {
			fds[1].Fd = int32(fd)
			perr = poll(fds, -1)
		}); err != nil {
			return false // Close closed the device.
		}
		if fds[0].Revents&unix.POLLIN != 0 {
			var buf [8]byte
			_, _ = unix.Read(t.wake, buf[:]) // Reset the counter.
		}
		switch {
		case perr != nil:
			// Not expected; do not spin on it.
			t.log.Warn("cannot wait for a hang-up", "err", perr)
			t.sleep(pollInterval)
		case fds[1].Revents&(unix.POLLHUP|unix.POLLERR) != 0:
			return true
		}
	}
	return false
}

// detach records that the device f hung up, closes it and reports the
// detach. It returns false if Close came first (and closes f itself).
func (t *TTY) detach(f *os.File) bool {
	t.mu.Lock()
	if t.isClosed() || t.f != f {
		t.mu.Unlock()
		return false
	}
	t.f, t.rc = nil, nil
	t.gen++
	close(t.changed)
	t.changed = make(chan struct{})
	t.mu.Unlock()
	// Wakes a Read or Write blocked on f: the Read waits for the reopened
	// device, the Write drops the rest of its bytes.
	if err := f.Close(); err != nil {
		t.log.Debug("close after hang-up", "err", err)
	}
	t.log.Warn("device hung up (the USB link went away?); reopening it", "dropped", t.dropped.Load())
	if t.onAttach != nil {
		t.onAttach(false)
	}
	return true
}

// reopen opens the device again, backing off from reopenFirst to
// reopenMax between tries, and reports the attach. It returns false once
// Close has been called.
func (t *TTY) reopen() bool {
	wait := reopenFirst
	var last string
	for {
		if !t.sleep(wait) {
			return false
		}
		wait = min(2*wait, reopenMax)
		f, rc, err := openTTY(t.path)
		if err != nil {
			if msg := err.Error(); msg != last {
				t.log.Debug("cannot reopen the device yet; retrying", "err", err)
				last = msg
			}
			continue
		}
		t.mu.Lock()
		if t.isClosed() {
			t.mu.Unlock()
			f.Close()
			return false
		}
		// Neither deadline can fail on a file just opened on the poller.
		_ = f.SetReadDeadline(t.readDeadline)
		_ = f.SetWriteDeadline(t.writeDeadline)
		t.f, t.rc = f, rc
		t.gen++
		close(t.changed)
		t.changed = make(chan struct{})
		t.mu.Unlock()
		t.log.Info("device reopened")
		if t.onAttach != nil {
			t.onAttach(true)
		}
		return true
	}
}

// hungUp tells the reopener that Read or Write saw the device of
// generation gen hang up.
func (t *TTY) hungUp(gen uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.gen == gen && t.f != nil {
		t.suspect = gen
		t.wakeReopener()
	}
}

// wakeReopener ends the reopener's poll(2). The caller must hold t.mu,
// which keeps Close from closing t.wake meanwhile.
func (t *TTY) wakeReopener() {
	if t.wake < 0 {
		return
	}
	one := [8]byte{1}
	_, _ = unix.Write(t.wake, one[:])
}

// waitChange blocks until changed is closed, deadline (if not zero) or
// pollInterval has passed; it fails once the device is closed.
func (t *TTY) waitChange(changed <-chan struct{}, deadline time.Time) error {
	d := pollInterval
	if !deadline.IsZero() {
		d = min(d, time.Until(deadline))
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-changed:
	case <-tm.C:
	case <-t.done:
		return t.opErr("read", ErrClosed)
	}
	return nil
}

// sleep waits for d; it returns false if Close is called first.
func (t *TTY) sleep(d time.Duration) bool {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-t.done:
		return false
	}
}

// opErr wraps err as the error of operation op.
func (t *TTY) opErr(op string, err error) error {
	return fmt.Errorf("ptyside: %s %s: %w", op, t.path, err)
}

// isClosed reports whether Close has been called.
func (t *TTY) isClosed() bool {
	select {
	case <-t.done:
		return true
	default:
		return false
	}
}
