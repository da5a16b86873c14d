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
	"github.com/c2cbridge/c2cbridge/internal/ttylink"
	"golang.org/x/sys/unix"
)

// reopenEvery is how often a DeviceServer tries to reopen a tty that hung
// up.
const reopenEvery = 250 * time.Millisecond

// DeviceServer serves a Module on an existing tty, such as the
// /dev/ttyGS0 of a USB gadget's ACM function, whose other end the bridge
// opens as a real /dev/ttyACM*. The tty is opened in raw mode.
//
// When the tty hangs up (a read ends with EOF or EIO: the gadget was
// unbound from its controller) the server closes it and reopens the same
// path every reopenEvery until that works. The module keeps its session
// and call state meanwhile, as a module behind an unplugged adapter does;
// what it sends meanwhile is lost. The module's events record "unplug"
// and "replug".
type DeviceServer struct {
	m    *Module
	path string
	link string
	log  *slog.Logger

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// ServeDevice opens the tty at path and serves m on it in the background
// until ctx ends or Close, reopening it after a hang-up. If link is not
// empty it is made a symlink to path (replacing a symlink there), removed
// again by Close. m must not be served elsewhere meanwhile. Close the
// server before the module.
func ServeDevice(ctx context.Context, m *Module, path, link string) (*DeviceServer, error) {
	if path == "" {
		return nil, errors.New("modemsim: serve device: empty path")
	}
	m.mu.Lock()
	closed := m.closed
	m.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	f, err := openDevice(path)
	if err != nil {
		return nil, err
	}
	if link != "" {
		if err := ttylink.Create(link, path, m.log); err != nil {
			f.Close()
			return nil, fmt.Errorf("modemsim: link %s: %w", link, err)
		}
	}
	s := &DeviceServer{
		m:    m,
		path: path,
		link: link,
		log:  m.log.With("device", path),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	go s.run(ctx, f)
	return s, nil
}

// Path returns the tty served.
func (s *DeviceServer) Path() string { return s.path }

// Close stops serving, closes the tty and removes the link. The Module
// stays open. Close is idempotent.
func (s *DeviceServer) Close() error {
	s.closeOnce.Do(func() { close(s.stop) })
	<-s.done
	return nil
}

// run serves f, and the tty reopened after each hang-up, until Close or
// ctx ends.
func (s *DeviceServer) run(ctx context.Context, f *os.File) {
	defer close(s.done)
	if s.link != "" {
		defer func() {
			if err := ttylink.Remove(s.link, s.path, s.log); err != nil {
				s.log.Warn("modemsim: remove link", "err", err)
			}
		}()
	}
	sctx, cancel := withStop(ctx, s.stop)
	defer cancel()
	for {
		err := s.m.Serve(sctx, f)
		f.Close()
		if sctx.Err() != nil || errors.Is(err, ErrClosed) {
			return
		}
		s.log.Warn("modemsim: device hung up; reopening", "err", err, "every", reopenEvery)
		s.m.noteUnplug()
		if f = s.reopen(sctx); f == nil {
			return
		}
		s.log.Info("modemsim: device reopened")
		s.m.noteReplug()
	}
}

// reopen tries to open the tty every reopenEvery (the first time after a
// wait too, so a tty that keeps hanging up does not spin); nil when
// stopped first.
func (s *DeviceServer) reopen(ctx context.Context) *os.File {
	t := time.NewTicker(reopenEvery)
	defer t.Stop()
	var last string
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		f, err := openDevice(s.path)
		if err == nil {
			return f
		}
		if msg := err.Error(); msg != last {
			s.log.Debug("modemsim: reopen failed; retrying", "err", err)
			last = msg
		}
	}
}

// openDevice opens the tty at path for the module: read-write, not as a
// controlling terminal, without waiting for a carrier, in raw mode, on
// Go's poller (so deadlines work and Close wakes a blocked Read).
func openDevice(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|unix.O_NOCTTY|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("modemsim: open device: %w", err)
	}
	if err := rawtty.Control(f, rawtty.MakeRaw); err != nil {
		f.Close()
		return nil, fmt.Errorf("modemsim: raw mode on %s: %w", path, err)
	}
	return f, nil
}
