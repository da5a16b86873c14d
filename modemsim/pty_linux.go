//go:build linux

package modemsim

import (
	"context"
	"errors"
	"fmt"
	"github.com/c2cbridge/c2cbridge/internal/rawtty"
	"github.com/c2cbridge/c2cbridge/internal/ttylink"
	"io/fs"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// replugRetry is how long a failed come-back waits before it tries again.
const replugRetry = 100 * time.Millisecond

// PTYServer serves a Module on a pseudo-terminal, playing the USB-serial
// adapter in front of it: the bridge opens the link like a UART.
//
// The pty is in raw mode from the start (no echo, no CR/LF translation,
// no flow-control or signal characters, 8 bits), set on the slave before
// the link exists. The server keeps a descriptor of the slave open, so its
// master never reads EIO while no program has the slave open; bytes the
// module writes meanwhile wait in the pty (a few KiB; then the module's
// writes, and soon its reads, stall) and reach the next program that opens
// the link, as an adapter's buffer would: flush input after opening.
//
// The TIOCEXCL flag a program sets on the slave stays on the pty until
// it is cleared (TIOCNXCL) or the pty goes away, whether or not the
// server holds the slave: a bridge killed before it cleared the flag
// leaves the port "busy" for the next one, as on a real port held by a
// crashed process. ClearExclusive clears it; Unplug makes a new pty;
// PTYOptions.ReleaseExclusive clears it when the last program closes the
// slave, as on a real port whose program died.
type PTYServer struct {
	m    *Module
	link string
	opts PTYOptions
	log  *slog.Logger

	mu  sync.Mutex
	cur *ptyPair // nil while unplugged

	reqs      chan unplugReq
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// unplugReq asks the server to vanish now and come back after d; ack is
// closed once it has vanished.
type unplugReq struct {
	d   time.Duration
	ack chan struct{}
}

// ptyPair is one pty: the master the module serves, the slave held open.
type ptyPair struct {
	master *os.File // non-blocking, on Go's poller: deadlines and Close wake it
	slave  *os.File // nil for a data peer's pty: its master sees the peer hang up
	tty    string   // the slave's path, /dev/pts/N
	excl   *exclRelease
}

// PTYOptions are the optional settings of the ptys ServePTYOptions and
// ServeDataPeer make. The zero value leaves a pty as the kernel made it
// (owned by its creator, group tty, mode 0620).
type PTYOptions struct {
	// Mode, when not 0, sets the permission bits of the pty's slave and
	// gives it the group GID: 0660 with the dialout group makes it look
	// like a real UART's device node to a service that opens it.
	Mode fs.FileMode
	// GID is the slave's group when Mode is set.
	GID int
	// ReleaseExclusive clears the slave's TIOCEXCL flag when the last
	// program that opened it closes it, as the kernel does for a real tty
	// (see PTYServer): a bridge killed while it held the port leaves it
	// free for the next one.
	ReleaseExclusive bool
}

// ServePTY creates a pty, puts it in raw mode, links its slave at link (a
// symlink there already is replaced; any other file is an error) and
// serves m on it in the background until ctx ends or Close. m must not be
// served elsewhere meanwhile. Close the server before the module.
func ServePTY(ctx context.Context, m *Module, link string) (*PTYServer, error) {
	return ServePTYOptions(ctx, m, link, PTYOptions{})
}

// ServePTYOptions is ServePTY with options for the pty (and every pty an
// Unplug brings back).
func ServePTYOptions(ctx context.Context, m *Module, link string, opts PTYOptions) (*PTYServer, error) {
	if link == "" {
		return nil, errors.New("modemsim: serve pty: empty link path")
	}
	m.mu.Lock()
	closed := m.closed
	m.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	p, err := openPTY(link, opts)
	if err != nil {
		return nil, err
	}
	s := &PTYServer{
		m:    m,
		link: link,
		opts: opts,
		log:  m.log.With("link", link),
		cur:  p,
		reqs: make(chan unplugReq),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	go s.run(ctx, p)
	return s, nil
}

// Path returns the link, the path the bridge opens.
func (s *PTYServer) Path() string { return s.link }

// TTY returns the slave the link points to now (/dev/pts/N), or "" while
// unplugged.
func (s *PTYServer) TTY() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == nil {
		return ""
	}
	return s.cur.tty
}

// Unplug makes the adapter vanish: when Unplug returns, the module's
// Serve has ended, the pty is closed (a program holding the slave reads
// EOF or EIO and gets EIO on write) and the link is removed. After d, a
// new pty (a new /dev/pts/N) is linked at the same path and served. The
// module keeps its session and all its state, as a real module does when
// only the USB-serial adapter drops; what it sends meanwhile is lost.
// Unplug while unplugged restarts the wait with d.
func (s *PTYServer) Unplug(d time.Duration) {
	r := unplugReq{d: d, ack: make(chan struct{})}
	select {
	case s.reqs <- r:
	case <-s.done:
		return
	}
	select {
	case <-r.ack:
	case <-s.done:
	}
}

// ClearExclusive clears the TIOCEXCL flag of the slave, as the release of
// a real port by a dead process would. It fails while unplugged.
func (s *PTYServer) ClearExclusive() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == nil {
		return errors.New("modemsim: clear exclusive: unplugged")
	}
	if err := rawtty.Control(s.cur.slave, func(fd int) error {
		return unix.IoctlSetInt(fd, unix.TIOCNXCL, 0)
	}); err != nil {
		return fmt.Errorf("modemsim: clear exclusive: %w", err)
	}
	return nil
}

// Close stops serving, closes the pty and removes the link. The Module
// stays open. Close is idempotent.
func (s *PTYServer) Close() error {
	s.closeOnce.Do(func() { close(s.stop) })
	<-s.done
	return nil
}

// run serves p, and the ptys after it, until Close or ctx ends.
func (s *PTYServer) run(ctx context.Context, p *ptyPair) {
	defer close(s.done)
	for {
		req := s.serve(ctx, p)
		s.mu.Lock()
		s.cur = nil
		s.mu.Unlock()
		p.close(s.link, s.log)
		if req == nil {
			return
		}
		s.m.noteUnplug()
		close(req.ack)
		if p = s.replug(ctx, req.d); p == nil {
			return
		}
		s.m.noteReplug()
	}
}

// serve runs the module's Serve on p until Close, ctx or an unplug
// request, which it returns.
func (s *PTYServer) serve(ctx context.Context, p *ptyPair) *unplugReq {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- s.m.Serve(sctx, p.master) }()
	var req *unplugReq
wait:
	for {
		select {
		case <-ctx.Done():
			break wait
		case <-s.stop:
			break wait
		case r := <-s.reqs:
			req = &r
			break wait
		case err := <-served:
			// The module was closed or the line failed: nothing to serve
			// until an unplug brings a new pty, or Close.
			s.log.Warn("modemsim: pty serve ended", "err", err)
			served = nil
		}
	}
	cancel()
	if served != nil {
		<-served
	}
	return req
}

// replug waits d (restarted by further unplug requests), then brings a
// new pty back at the link; nil when stopped first.
func (s *PTYServer) replug(ctx context.Context, d time.Duration) *ptyPair {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.stop:
			return nil
		case r := <-s.reqs:
			t.Reset(r.d)
			close(r.ack)
		case <-t.C:
			p, err := openPTY(s.link, s.opts)
			if err != nil {
				s.log.Error("modemsim: replug failed; retrying", "err", err)
				t.Reset(replugRetry)
				continue
			}
			s.mu.Lock()
			s.cur = p
			s.mu.Unlock()
			return p
		}
	}
}

// noteUnplug and noteReplug record the adapter's going and coming.
func (m *Module) noteUnplug() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stats.Unplugs++
	m.event("unplug")
}

func (m *Module) noteReplug() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.event("replug")
}

// openPTY creates a raw pty with opts and links its slave at link.
func openPTY(link string, opts PTYOptions) (*ptyPair, error) {
	master, slave, err := pty.Open()
	if err != nil {
		return nil, fmt.Errorf("modemsim: create pty: %w", err)
	}
	tty := slave.Name()
	if err := rawtty.Control(slave, rawtty.MakeRaw); err != nil {
		master.Close()
		slave.Close()
		return nil, fmt.Errorf("modemsim: raw mode on %s: %w", tty, err)
	}
	if err := opts.apply(tty); err != nil {
		master.Close()
		slave.Close()
		return nil, err
	}
	nb, err := rawtty.Nonblocking(master)
	if err != nil {
		slave.Close()
		return nil, fmt.Errorf("modemsim: pty master of %s: %w", tty, err)
	}
	p := &ptyPair{master: nb, slave: slave, tty: tty}
	if opts.ReleaseExclusive {
		if p.excl, err = watchExclusive(tty, slave); err != nil {
			nb.Close()
			slave.Close()
			return nil, err
		}
	}
	if err := ttylink.Create(link, tty, slog.New(slog.DiscardHandler)); err != nil {
		p.excl.stop()
		nb.Close()
		slave.Close()
		return nil, fmt.Errorf("modemsim: link %s: %w", link, err)
	}
	return p, nil
}

// apply gives the slave tty its group and mode.
func (o PTYOptions) apply(tty string) error {
	if o.Mode == 0 {
		return nil
	}
	if err := os.Chown(tty, -1, o.GID); err != nil {
		return fmt.Errorf("modemsim: group of %s: %w", tty, err)
	}
	if err := os.Chmod(tty, o.Mode.Perm()); err != nil {
		return fmt.Errorf("modemsim: mode of %s: %w", tty, err)
	}
	return nil
}

// close closes the pty (master first, which hangs up the slave) and
// removes the link if it still points to it.
func (p *ptyPair) close(link string, log *slog.Logger) {
	p.excl.stop()
	if err := p.master.Close(); err != nil {
		log.Warn("modemsim: close pty master", "err", err)
	}
	if err := ttylink.Remove(link, p.tty, log); err != nil {
		log.Warn("modemsim: remove link", "err", err)
	}
	if p.slave == nil {
		return
	}
	if err := p.slave.Close(); err != nil {
		log.Warn("modemsim: close pty slave", "err", err)
	}
}
