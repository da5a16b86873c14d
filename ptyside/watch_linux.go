//go:build linux

package ptyside

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// watch is the watcher goroutine. It alone changes the attach state and
// calls OnAttach. While an application is attached it sleeps in poll(2)
// until the master hangs up, so a departure is noticed at once, even when
// the next application opens the tty a moment later. While detached it
// checks every pollInterval, since nothing signals an open of the slave.
// Read, Write and Close wake it early through p.wake. Close stops it.
func (p *PTY) watch() {
	defer p.wg.Done()
	for !p.isClosed() {
		p.check()
		hup, err := p.sleep(p.Attached())
		switch {
		case err != nil && !p.isClosed():
			// Not expected; do not spin on it.
			p.log.Warn("cannot wait for application", "err", err)
			time.Sleep(pollInterval)
		case hup:
			// The application has gone. Record that before check
			// looks again: by then the next one may have opened the
			// tty, which clears the hang-up.
			p.setAttached(false)
		}
	}
}

// sleep blocks until the master hangs up (if attached is true; otherwise
// until pollInterval has passed) or someone writes to p.wake. It reports
// whether the master hung up.
func (p *PTY) sleep(attached bool) (hup bool, err error) {
	fds := []unix.PollFd{{Fd: int32(p.wake), Events: unix.POLLIN}}
	if attached {
		// With no events asked for, poll reports the master's
		// hang-up (and errors), but not the application's data.
		cerr := p.rc.Control(func(fd uintptr) {
			fds = append(fds, unix.PollFd{Fd: int32(fd)})
			err = poll(fds, -1)
		})
		if cerr != nil {
			return false, cerr
		}
	} else {
		err = poll(fds, pollInterval)
	}
	if err != nil {
		return false, err
	}
	if fds[0].Revents&unix.POLLIN != 0 {
		var buf [8]byte
		_, _ = unix.Read(p.wake, buf[:]) // Reset the counter.
	}
	return attached && fds[1].Revents&unix.POLLHUP != 0, nil
}

// wakeWatcher makes the watcher check the master at once. The caller must
// hold p.mu, which keeps Close from closing p.wake meanwhile.
func (p *PTY) wakeWatcher() {
	if p.wake < 0 {
		return // Closed; the watcher has stopped.
	}
	// Any non-zero 8-byte value, whatever the byte order. The write
	// cannot fail short of overflowing the counter.
	one := [8]byte{1}
	_, _ = unix.Write(p.wake, one[:])
}

// check brings the attach state up to date.
func (p *PTY) check() {
	p.mu.Lock()
	gone := p.state.attached && p.suspect == p.state.gen
	p.mu.Unlock()
	if gone {
		// Read or Write saw the application go. If another has
		// opened the slave since, the poll below cannot tell, so
		// record the departure first.
		p.setAttached(false)
	}
	hup, err := hungUp(p.rc)
	if err != nil {
		if !p.isClosed() {
			p.log.Warn("cannot check for application", "err", err)
		}
		return
	}
	p.setAttached(!hup)
}

// setAttached records whether an application is attached. If that is a
// change, it resets the slave for the next application after a departure,
// and then calls OnAttach, holding no lock.
func (p *PTY) setAttached(attached bool) {
	p.mu.Lock()
	if p.state.attached == attached {
		p.mu.Unlock()
		return
	}
	p.state.attached = attached
	p.state.gen++
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()

	if attached {
		p.log.Info("application attached")
	} else {
		// Writes are dropped from here on; wait for a write in
		// progress to notice, then discard what the departed
		// application left unread.
		p.wmu.Lock()
		err := resetSlave(p.rc, p.path, p.raw)
		p.wmu.Unlock()
		if err != nil && !p.isClosed() {
			p.log.Warn("cannot reset tty after application left; the next one may see stale output", "err", err)
		}
		p.log.Info("application detached", "dropped", p.dropped.Load())
	}
	if p.onAttach != nil {
		p.onAttach(attached)
	}
}

// attachState returns the current attach state.
func (p *PTY) attachState() attachState {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state
}

// snapshot returns the current attach state, and a channel that is closed
// when it changes.
func (p *PTY) snapshot() (attachState, <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state, p.changed
}

// waitChange blocks until changed is closed or pollInterval has passed. It
// fails once the device is closed.
func (p *PTY) waitChange(changed <-chan struct{}) error {
	t := time.NewTimer(pollInterval)
	defer t.Stop()
	select {
	case <-changed:
		return nil
	case <-t.C:
		return nil
	case <-p.done:
		return fmt.Errorf("ptyside: read %s: %w", p.link, ErrClosed)
	}
}

// suspectGone tells the watcher that the application of generation gen
// seems to have gone, and asks it to check at once.
func (p *PTY) suspectGone(gen uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state.gen == gen {
		p.suspect = gen
	}
	p.wakeWatcher()
}
