//go:build linux

package modemsim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/c2cbridge/c2cbridge/internal/rawtty"
	"golang.org/x/sys/unix"
)

// peerPoll is how often a PeerServer looks whether a peer has opened its
// pty.
const peerPoll = 100 * time.Millisecond

// PeerServer serves the network side of a Module's calls (ServeNetwork)
// on a pseudo-terminal whose slave is linked at a path: a peer program,
// typically a pppd playing the operator's network, opens the link.
//
// The server holds no descriptor of the slave, so its master sees the
// peer come (the pty stops reporting a hang-up) and go (reads fail with
// EIO). A peer that hangs up during a call drops it: the module sends NO
// CARRIER. A call that ends on the module's side (ATH, a reboot) hangs up
// the peer: the pty is closed, the peer's next read or write fails, and a
// new pty is linked at the same path for the next peer (a pppd with
// "persist" reopens the path). Bytes a peer writes while no call is in
// data mode are dropped.
type PeerServer struct {
	m    *Module
	link string
	opts PTYOptions
	log  *slog.Logger

	mu  sync.Mutex
	cur *ptyPair

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// ServeDataPeer creates a raw pty with opts, links its slave at link and
// carries m's calls to a peer on it in the background until ctx ends or
// Close. m must be made with Config.Network. Close the server before the
// module.
func ServeDataPeer(ctx context.Context, m *Module, link string, opts PTYOptions) (*PeerServer, error) {
	if link == "" {
		return nil, errors.New("modemsim: serve data peer: empty link path")
	}
	m.mu.Lock()
	closed, netMode := m.closed, m.netMode
	m.mu.Unlock()
	switch {
	case closed:
		return nil, ErrClosed
	case !netMode:
		return nil, ErrNoNetwork
	}
	p, err := openPeerPTY(link, opts)
	if err != nil {
		return nil, err
	}
	s := &PeerServer{
		m:    m,
		link: link,
		opts: opts,
		log:  m.log.With("data_peer", link),
		cur:  p,
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	go s.run(ctx)
	return s, nil
}

// Path returns the link the peer opens.
func (s *PeerServer) Path() string { return s.link }

// TTY returns the slave the link points to now (/dev/pts/N).
func (s *PeerServer) TTY() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == nil {
		return ""
	}
	return s.cur.tty
}

// Close stops serving, closes the pty (hanging up a peer) and removes the
// link. The Module stays open. Close is idempotent.
func (s *PeerServer) Close() error {
	s.closeOnce.Do(func() { close(s.stop) })
	<-s.done
	return nil
}

// run waits for a peer, serves it, and hangs it up at the end of a call,
// until Close or ctx ends.
func (s *PeerServer) run(ctx context.Context) {
	defer close(s.done)
	defer func() {
		s.mu.Lock()
		p := s.cur
		s.cur = nil
		s.mu.Unlock()
		if p != nil {
			p.close(s.link, s.log)
		}
	}()
	sctx, cancel := withStop(ctx, s.stop)
	defer cancel()
	for {
		s.mu.Lock()
		p := s.cur
		s.mu.Unlock()
		if !s.waitPeer(sctx, p) {
			return
		}
		s.log.Info("modemsim: data peer attached", "tty", p.tty)
		err := s.m.ServeNetwork(sctx, p.master)
		switch {
		case sctx.Err() != nil || errors.Is(err, ErrClosed):
			return
		case errors.Is(err, ErrCallEnded):
			// The network ends its side of the call: hang the peer up
			// and offer a fresh pty at the link.
			s.log.Info("modemsim: call ended; hanging up the data peer")
			q, oerr := openPeerPTY(s.link, s.opts)
			for oerr != nil {
				s.log.Error("modemsim: new data peer pty failed; retrying", "err", oerr)
				select {
				case <-sctx.Done():
					return
				case <-time.After(replugRetry):
				}
				q, oerr = openPeerPTY(s.link, s.opts)
			}
			// openPeerPTY replaced the link; close the old pty after, so
			// the peer never finds the path missing.
			s.mu.Lock()
			s.cur = q
			s.mu.Unlock()
			p.close(s.link, s.log)
		default:
			s.log.Info("modemsim: data peer hung up", "err", err)
		}
	}
}

// waitPeer polls until a program has p's slave open; false when ctx ended
// first.
func (s *PeerServer) waitPeer(ctx context.Context, p *ptyPair) bool {
	t := time.NewTicker(peerPoll)
	defer t.Stop()
	for {
		attached, err := peerAttached(p.master)
		if err != nil {
			s.log.Warn("modemsim: poll data peer pty", "err", err)
		}
		if attached {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
	}
}

// peerAttached reports whether the slave of master is open: a pty master
// reports a hang-up (POLLHUP) while no program has its slave open.
func peerAttached(master *os.File) (bool, error) {
	var attached bool
	err := rawtty.Control(master, func(fd int) error {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		if _, err := unix.Poll(fds, 0); err != nil && !errors.Is(err, unix.EINTR) {
			return fmt.Errorf("poll: %w", err)
		}
		attached = fds[0].Revents&unix.POLLHUP == 0
		return nil
	})
	return attached, err
}

// openPeerPTY makes a raw pty with opts, links its slave at link and
// closes the slave, so the master sees the peer come and go.
func openPeerPTY(link string, opts PTYOptions) (*ptyPair, error) {
	p, err := openPTY(link, opts)
	if err != nil {
		return nil, err
	}
	if err := p.slave.Close(); err != nil {
		p.master.Close()
		return nil, fmt.Errorf("modemsim: data peer pty %s: %w", p.tty, err)
	}
	p.slave = nil
	return p, nil
}

// withStop returns a context that ends with ctx or when stop is closed, as
// the servers' Stop asks; cancel it to end its goroutine.
func withStop(ctx context.Context, stop <-chan struct{}) (context.Context, context.CancelFunc) {
	sctx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-stop:
			cancel()
		case <-sctx.Done():
		}
	}()
	return sctx, cancel
}
