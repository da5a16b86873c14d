package bridge

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/c2cbridge/c2cbridge/counters"
	c2c "github.com/c2cbridge/c2cbridge/crypto"
)

// Timings of the control loop.
const (
	// idleRetry is how soon work that is due (a rekey, a keepalive, a
	// session check) is tried again while the application's stream is
	// busy (a command in flight, a call).
	idleRetry = 50 * time.Millisecond
	// unsavedEvery is how often a key file that could not be written is
	// tried again, with an error in the log each time it still fails.
	unsavedEvery = 10 * time.Minute
)

// control is the control loop's own state; no other goroutine touches it.
type control struct {
	events events
	beat   *time.Ticker // the heartbeat; nil before Run
	// previous is the key file's previous generation, kept only until
	// the start-up has confirmed which generation the module uses.
	previous *c2c.Secrets
	// suspectSince is when plain text arrived in the session (a rebooted
	// module prints RDY): any authentic frame after it proves the session
	// alive; else the session is checked at the next idle point, or after
	// probe_timeout even with an application command in flight (its
	// answer would never come). Zero when nothing is suspect.
	suspectSince time.Time
	// keepaliveSent is when the last keepalive went out.
	keepaliveSent time.Time
	// overdue is set while a due rekey waits for a data-mode call to end.
	overdue bool
	// unsavedRetry is when a failed key-file write is tried again;
	// savePending is set while the secrets in use are only in memory.
	unsavedRetry time.Time
	savePending  bool
	// Opens back off after losses (waitBackoff).
	nextOpen  time.Time
	openFails int
}

// dropPrevious wipes the previous generation: it is confirmed or replaced.
func (c *control) dropPrevious() {
	if c.previous != nil {
		c.previous.Zero()
		c.previous = nil
	}
}

// events are what other goroutines tell the control loop: each channel is
// buffered by one and sent to without blocking, so a burst is one wake-up.
type events struct {
	suspect    chan struct{} // plain text arrived in a session (downstream)
	detached   chan struct{} // the application went away (AppDetached)
	rekeyBytes chan struct{} // session.rekey_bytes reached (either direction)
	reschedule chan struct{} // the rekey schedule changed (SetRekeySchedule)
	// adopt carries secrets the module issued in a rekey the bridge did
	// not send (downstream); the control loop wipes them.
	adopt chan *c2c.Secrets
	// escape: the application's possible escape got no OK (upstream).
	escape chan struct{}
}

func newEvents() events {
	return events{suspect: make(chan struct{}, 1), detached: make(chan struct{}, 1),
		rekeyBytes: make(chan struct{}, 1), reschedule: make(chan struct{}, 1),
		adopt: make(chan *c2c.Secrets, 1), escape: make(chan struct{}, 1)}
}

// adoptSecrets hands s to the control loop, or wipes it if secrets are
// already waiting there.
func (e events) adoptSecrets(s *c2c.Secrets) {
	select {
	case e.adopt <- s:
	default:
		s.Zero()
	}
}

// signal wakes the control loop without blocking.
func (events) signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// schedule is the rekey schedule and history; guarded by mu.
type schedule struct {
	every time.Duration // session.rekey_interval; 0 disables
	tried time.Time     // when the last rekey was tried (or the session began): the interval's base
	done  time.Time     // when the last rekey completed; zero before the first
	// unsaved is set while the key file could not be written when it had
	// to be (before or after a rekey); rekeys wait until it can.
	unsaved bool
}

// activity holds times and marks the I/O goroutines update without a lock.
type activity struct {
	lineFree atomic.Int64 // unix nanos when the line has sent all written bytes (pacing)
	lastRx   atomic.Int64 // unix nanos of the last authentic frame from the module
	lastTx   atomic.Int64 // unix nanos of the last application byte sent to the module
	// rekeyBytes is session.rekey_bytes (0 disables); rekeyBase the
	// application bytes both ways at the last rekey; bytesDue is set once
	// the limit was signalled, until the next rekey.
	rekeyBytes atomic.Int64
	rekeyBase  atomic.Uint64
	bytesDue   atomic.Bool
}

// checkRekeyBytes tells the control loop, once per rekey, that
// session.rekey_bytes application bytes have moved.
func (b *Bridge) checkRekeyBytes() {
	if b.bytesMoved() && !b.act.bytesDue.Swap(true) {
		b.ctrl.events.signal(b.ctrl.events.rekeyBytes)
	}
}

// bytesMoved reports whether session.rekey_bytes were reached.
func (b *Bridge) bytesMoved() bool {
	limit := b.act.rekeyBytes.Load()
	if limit <= 0 {
		return false
	}
	moved := b.stats.Load(counters.AppBytesUp) + b.stats.Load(counters.AppBytesDown)
	return moved-b.act.rekeyBase.Load() >= uint64(limit)
}

// heartbeat calls Config.Heartbeat.
func (b *Bridge) heartbeat() {
	if b.cfg.Heartbeat != nil {
		b.cfg.Heartbeat()
	}
}

// beatC returns the heartbeat's channel (nil, never ready, before Run).
func (b *Bridge) beatC() <-chan time.Time {
	if b.ctrl.beat == nil {
		return nil
	}
	return b.ctrl.beat.C
}

// sleep waits d, beating the heartbeat; it reports false if ctx ended first.
func (b *Bridge) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			return true
		case <-ctx.Done():
			return false
		case <-b.beatC():
			b.heartbeat()
		}
	}
}

// serve is the control loop until ctx is done: it waits on one timer for
// the nearest named deadline (rekeyAt, keepaliveAt, suspectUntil) and on
// the other goroutines' events, beats the heartbeat, reconnects a lost
// modem and ends a call the application left.
func (b *Bridge) serve(ctx context.Context) error {
	b.mu.Lock()
	b.sched.tried = time.Now()
	b.mu.Unlock()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	ev := &b.ctrl.events
	for {
		now := time.Now()
		timer.Reset(max(b.nextWake(now).Sub(now), 0))
		select {
		case <-ctx.Done():
			return nil
		case <-b.currentLink().done:
			if ctx.Err() != nil {
				return nil
			}
			l := b.currentLink()
			if b.cfg.Dial == nil {
				return fmt.Errorf("%w: %s: %v", ErrModemLost, b.cfg.Device, l.cause())
			}
			if err := b.reconnect(ctx, l); err != nil {
				return err
			}
		case <-ev.suspect:
			if b.ctrl.suspectSince.IsZero() && b.inSession() {
				// Plain text in a session: hold application input at
				// once, check at the next idle point.
				b.ctrl.suspectSince = time.Now()
				b.holdNow()
			}
		case <-ev.detached:
			b.appGone(ctx)
		case next := <-ev.adopt:
			b.adoptUnsolicited(ctx, next)
		case <-ev.escape:
			b.settleEscape(ctx)
		case <-ev.rekeyBytes:
		case <-ev.reschedule:
		case <-b.beatC():
			b.heartbeat()
		case <-timer.C:
		}
		b.runDue(ctx, time.Now())
	}
}

// The named deadlines: each returns when its work is due, or the zero time
// when there is none.

// suspectUntil is when a suspected session is checked even with an
// application command in flight.
func (b *Bridge) suspectUntil() time.Time {
	if b.ctrl.suspectSince.IsZero() {
		return time.Time{}
	}
	return b.ctrl.suspectSince.Add(b.cfg.ProbeTimeout)
}

// rekeyAt is when the next rekey is due: session.rekey_interval after the
// last, or now once session.rekey_bytes have moved. None while the
// session is not open or the key file cannot be written.
func (b *Bridge) rekeyAt(now time.Time) time.Time {
	b.mu.Lock()
	open, s := b.phase.state == StateOpen, b.sched
	b.mu.Unlock()
	switch {
	case !open || s.unsaved:
		return time.Time{}
	case b.bytesMoved():
		return now
	case s.every > 0:
		return s.tried.Add(s.every)
	}
	return time.Time{}
}

// keepaliveAt is when the session has been idle for session.keepalive in
// both directions since the last keepalive; for an unconfirmed session
// (a check got no answer at all), when it is checked again.
func (b *Bridge) keepaliveAt() time.Time {
	switch b.state() {
	case StateOpen:
		if b.cfg.Keepalive <= 0 {
			return time.Time{}
		}
		last := max(b.act.lastRx.Load(), b.act.lastTx.Load(), b.ctrl.keepaliveSent.UnixNano())
		return time.Unix(0, last).Add(b.cfg.Keepalive)
	case StateUnconfirmed:
		return b.ctrl.keepaliveSent.Add(max(b.cfg.Keepalive, b.cfg.ProbeTimeout))
	}
	return time.Time{}
}

// inSession reports whether the engine is in a session it uses or checks.
func (b *Bridge) inSession() bool {
	s := b.state()
	return s == StateOpen || s == StateUnconfirmed
}

// nextWake returns when the control loop must look again: the nearest
// deadline; a deadline that passed while the stream was busy is retried
// after idleRetry.
func (b *Bridge) nextWake(now time.Time) time.Time {
	next := now.Add(time.Hour)
	deadlines := []time.Time{b.suspectUntil(), b.rekeyAt(now), b.keepaliveAt()}
	if !b.ctrl.suspectSince.IsZero() {
		deadlines = append(deadlines, now.Add(idleRetry)) // waiting for an idle point
	}
	if b.unsaved() {
		deadlines = append(deadlines, b.ctrl.unsavedRetry)
	}
	for _, d := range deadlines {
		if d.IsZero() {
			continue
		}
		if !d.After(now) {
			d = now.Add(idleRetry)
		}
		next = minTime(next, d)
	}
	return next
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// due reports whether deadline d has passed.
func due(d, now time.Time) bool { return !d.IsZero() && !now.Before(d) }

// runDue does the work whose deadline has passed, if the stream lets it.
func (b *Bridge) runDue(ctx context.Context, now time.Time) {
	if b.unsaved() && due(b.ctrl.unsavedRetry, now) {
		b.retrySave()
	}
	if !b.ctrl.suspectSince.IsZero() {
		// Application input is held since the plain text arrived.
		switch {
		case b.act.lastRx.Load() > b.ctrl.suspectSince.UnixNano():
			// An authentic frame since: the session is alive.
			b.ctrl.suspectSince = time.Time{}
			b.releaseHold()
		case !b.inSession():
			b.ctrl.suspectSince = time.Time{}
		case b.streamIdle():
			b.ctrl.suspectSince = time.Time{}
			b.checkSession(ctx, "plain text arrived during the session")
		case due(b.suspectUntil(), now):
			b.ctrl.suspectSince = time.Time{}
			b.checkSession(ctx, "plain text arrived during the session, and no authentic answer since")
		}
		return
	}
	if due(b.rekeyAt(now), now) {
		if b.tryHold() {
			b.ctrl.overdue = false
			b.rekey(ctx)
			return
		}
		if !b.ctrl.overdue && b.inDataMode() {
			b.ctrl.overdue = true
			b.stats.Inc(counters.RekeysOverdue)
			b.log.Warn("rekey overdue: waiting for the data-mode call to end")
		}
	}
	if due(b.keepaliveAt(), now) {
		switch {
		case b.state() == StateUnconfirmed:
			b.holdNow()
			b.checkSession(ctx, "the session is still unconfirmed")
		case b.tryHold():
			b.keepalive(ctx)
		}
	}
}
