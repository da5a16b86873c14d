//go:build linux

package ptyside

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"github.com/c2cbridge/c2cbridge/internal/rawio"
	"github.com/c2cbridge/c2cbridge/internal/rawtty"
	"github.com/c2cbridge/c2cbridge/internal/ttylink"
	"github.com/c2cbridge/c2cbridge/internal/unixgroup"
)

// pollInterval is how often the watcher looks for a new application while
// none is attached (Linux signals nothing when a slave is opened, so only
// polling can tell), how often a Read waiting for one retries, and the
// longest a blocked Write waits before it re-checks that its application is
// still there.
const pollInterval = 100 * time.Millisecond

// PTY is the Linux pseudo-terminal backend of Device. The application opens
// the slave (through the link); PTY keeps only the master.
//
// PTY holds no slave descriptor once Open returns: an open slave would hide
// the application's departure, because the master is hung up only while no
// process has the slave open. A hung-up master (POLLHUP, and EIO from read)
// is therefore what "detached" means. A departure is noticed at once, an
// arrival within 100 ms. An application that comes and goes within 100 ms
// may never be reported as attached, though what it wrote is still read.
//
// When an application departs, PTY discards the output it left unread,
// clears exclusive mode (TIOCEXCL) and restores raw mode, so that the next
// application starts from a clean tty.
type PTY struct {
	log      *slog.Logger
	master   *os.File
	rc       syscall.RawConn // of master; all ioctls go through it
	path     string
	link     string
	raw      *unix.Termios // the attributes set at Open, reapplied after every application
	onAttach func(bool)

	// wmu serialises Write calls with each other and with the reset of
	// the slave after a departure, so that no byte meant for the departed
	// application is written after the reset.
	wmu sync.Mutex

	mu      sync.Mutex    // guards the fields below
	state   attachState   // changed only by the watcher
	suspect uint64        // generation in which Read or Write saw the application gone; 0 if none
	changed chan struct{} // closed and replaced whenever state changes
	wake    int           // eventfd that wakes the watcher; -1 once closed

	dropped atomic.Uint64

	// readDeadline is the deadline of Read as Unix nanoseconds; 0 for none.
	readDeadline atomic.Int64
	// writeDeadline is the deadline of Write as Unix nanoseconds; 0 for none.
	writeDeadline atomic.Int64

	done      chan struct{} // closed by Close
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// attachState is whether an application is attached, and a generation
// number that changes with every attach and every detach, so that a stale
// observation can be told from a current one.
type attachState struct {
	attached bool
	gen      uint64
}

var _ Device = (*PTY)(nil)

// Open creates the pseudo-terminal, puts it in raw mode, applies cfg.Mode
// and cfg.Group to the slave, creates the link cfg.Link, and starts
// watching for applications. The device starts detached.
func Open(cfg Config) (*PTY, error) {
	if cfg.Link == "" {
		return nil, errors.New("ptyside: open: Config.Link is empty")
	}
	p, err := open(cfg)
	if err != nil {
		return nil, fmt.Errorf("ptyside: open %s: %w", cfg.Link, err)
	}
	return p, nil
}

func open(cfg Config) (*PTY, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("link", cfg.Link)
	gid := -1
	if cfg.Group != "" {
		var err error
		if gid, err = unixgroup.Lookup(cfg.Group); err != nil {
			return nil, err
		}
	}

	m, s, err := pty.Open()
	if err != nil {
		return nil, fmt.Errorf("create pty: %w", err)
	}
	path := s.Name()
	master, err := rawtty.Nonblocking(m)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("prepare pty master: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			master.Close()
		}
	}()
	rc, err := master.SyscallConn()
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("prepare pty master: %w", err)
	}

	// Raw at once, through the master: a fresh pty echoes, and would
	// reflect the modem's output back at it as soon as anyone opens the
	// slave. Only then let go of the slave.
	raw, err := getTermios(rc)
	if err == nil {
		rawtty.SetRaw(raw)
		err = setTermios(rc, raw)
	}
	s.Close()
	if err != nil {
		return nil, fmt.Errorf("set raw mode: %w", err)
	}
	if err := applyPerm(path, cfg.Mode, gid); err != nil {
		return nil, err
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("create eventfd: %w", err)
	}
	if err := ttylink.Create(cfg.Link, path, log); err != nil {
		unix.Close(wake)
		return nil, err
	}
	ok = true

	p := &PTY{
		log:      log,
		master:   master,
		rc:       rc,
		path:     path,
		link:     cfg.Link,
		raw:      raw,
		onAttach: cfg.OnAttach,
		state:    attachState{gen: 1},
		changed:  make(chan struct{}),
		wake:     wake,
		done:     make(chan struct{}),
	}
	p.wg.Add(1)
	go p.watch()
	log.Debug("pseudo-terminal made", "path", path)
	return p, nil
}

// Read implements Device.Read.
//
// Read tries the master even while detached: an application that opens the
// tty, writes and closes it again between two checks of the watcher is never
// seen as attached, but what it wrote is still delivered.
func (p *PTY) Read(b []byte) (int, error) {
	if p.isClosed() {
		return 0, fmt.Errorf("ptyside: read %s: %w", p.link, ErrClosed)
	}
	if len(b) == 0 {
		return 0, nil
	}
	for {
		if d := p.readDeadline.Load(); d != 0 && time.Now().UnixNano() >= d {
			return 0, fmt.Errorf("ptyside: read %s: %w", p.link, os.ErrDeadlineExceeded)
		}
		st, changed := p.snapshot()
		// While a slave is open, this blocks in the poller until the
		// application writes or goes. Otherwise it returns what a
		// departed application left behind, or EIO at once.
		n, err := rawio.Read(p.rc, b)
		switch {
		case n > 0 || err == nil:
			return n, nil
		case p.isClosed() || errors.Is(err, os.ErrClosed):
			return 0, fmt.Errorf("ptyside: read %s: %w", p.link, ErrClosed)
		case errors.Is(err, os.ErrDeadlineExceeded):
			return 0, fmt.Errorf("ptyside: read %s: %w", p.link, err)
		case !errors.Is(err, syscall.EIO) && !errors.Is(err, io.EOF):
			return 0, fmt.Errorf("ptyside: read %s: %w", p.link, err)
		}
		// No application, and nothing left from the last one.
		if st.attached {
			p.suspectGone(st.gen)
		}
		if err := p.waitChange(changed); err != nil {
			return 0, err
		}
	}
}

// SetReadDeadline sets the deadline for pending and future Read calls, as
// os.File does: once it passes, Read returns an error wrapping
// os.ErrDeadlineExceeded (within pollInterval while detached). A zero t
// means no deadline.
func (p *PTY) SetReadDeadline(t time.Time) error {
	var d int64
	if !t.IsZero() {
		d = t.UnixNano()
	}
	p.readDeadline.Store(d)
	return p.master.SetReadDeadline(t)
}

// SetWriteDeadline implements Device.SetWriteDeadline.
func (p *PTY) SetWriteDeadline(t time.Time) error {
	var d int64
	if !t.IsZero() {
		d = t.UnixNano()
	}
	p.writeDeadline.Store(d)
	return nil
}

// Write implements Device.Write.
func (p *PTY) Write(b []byte) (int, error) {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	if p.isClosed() {
		return 0, fmt.Errorf("ptyside: write %s: %w", p.link, ErrClosed)
	}
	st := p.attachState()
	if !st.attached {
		// The watcher finds an arrival only every pollInterval, and a
		// client such as chat writes a command and reads its answer well
		// within that: ask the tty itself before dropping anything.
		// The watcher alone changes the state (and then watches for
		// the departure): wake it and wait for its verdict.
		if hup, err := hungUp(p.rc); err == nil && !hup {
			p.mu.Lock()
			changed := p.changed
			p.wakeWatcher()
			p.mu.Unlock()
			t := time.NewTimer(pollInterval)
			select {
			case <-changed:
			case <-t.C:
			case <-p.done:
			}
			t.Stop()
			st = p.attachState()
		}
	}
	if !st.attached {
		p.dropped.Add(uint64(len(b)))
		return len(b), nil
	}
	written := 0
	for written < len(b) {
		// Re-check the application each time round: a write blocked on
		// an application that does not read gives up after
		// pollInterval, and if the application has gone (or been
		// replaced), the rest was meant for it and is dropped.
		if p.isClosed() {
			return written, fmt.Errorf("ptyside: write %s: %w", p.link, ErrClosed)
		}
		if cur := p.attachState(); cur != st {
			p.dropped.Add(uint64(len(b) - written))
			return len(b), nil
		}
		next := time.Now().Add(pollInterval)
		if d := p.writeDeadline.Load(); d != 0 {
			if time.Now().UnixNano() >= d {
				return written, fmt.Errorf("ptyside: write %s: %w", p.link, os.ErrDeadlineExceeded)
			}
			next = minTime(next, time.Unix(0, d))
		}
		err := p.master.SetWriteDeadline(next)
		if err == nil {
			var n int
			n, err = rawio.Write(p.rc, b[written:])
			written += n
		}
		switch {
		case err == nil, errors.Is(err, os.ErrDeadlineExceeded):
		case p.isClosed() || errors.Is(err, os.ErrClosed):
			return written, fmt.Errorf("ptyside: write %s: %w", p.link, ErrClosed)
		case errors.Is(err, syscall.EIO):
			p.dropped.Add(uint64(len(b) - written))
			p.suspectGone(st.gen)
			return len(b), nil
		default:
			return written, fmt.Errorf("ptyside: write %s: %w", p.link, err)
		}
	}
	return len(b), nil
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// Close implements Device.Close.
func (p *PTY) Close() error {
	p.closeOnce.Do(func() {
		close(p.done)
		p.mu.Lock()
		p.wakeWatcher()
		p.mu.Unlock()
		// Remove the link first, so no new application finds a tty
		// that is about to go away.
		linkErr := ttylink.Remove(p.link, p.path, p.log)
		// Closing the master wakes Read and Write calls blocked in the
		// poller. It waits for the watcher to leave poll(2).
		masterErr := p.master.Close()
		if masterErr != nil {
			masterErr = fmt.Errorf("close pty master: %w", masterErr)
		}
		p.wg.Wait()
		p.mu.Lock()
		unix.Close(p.wake)
		p.wake = -1
		p.mu.Unlock()
		if err := errors.Join(linkErr, masterErr); err != nil {
			p.closeErr = fmt.Errorf("ptyside: close %s: %w", p.link, err)
		}
		p.log.Info("virtual tty closed", "dropped", p.dropped.Load())
	})
	return p.closeErr
}

// Attached implements Device.Attached.
func (p *PTY) Attached() bool {
	return p.attachState().attached
}

// Path implements Device.Path.
func (p *PTY) Path() string { return p.path }

// Link implements Device.Link.
func (p *PTY) Link() string { return p.link }

// Dropped implements Device.Dropped.
func (p *PTY) Dropped() uint64 { return p.dropped.Load() }

// isClosed reports whether Close has been called.
func (p *PTY) isClosed() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}
