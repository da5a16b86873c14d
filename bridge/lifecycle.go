package bridge

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/c2cbridge/c2cbridge/at"
	"github.com/c2cbridge/c2cbridge/counters"
)

// Timings of recovery.
const (
	// tick is how often the control loop looks for due work.
	tick = 50 * time.Millisecond
	// firstBackoff and maxBackoff bound the wait between reconnects and
	// between reopens after a lost session. The vendor allows only 100
	// opens during the evaluation period: a reboot loop must not burn them.
	firstBackoff = 250 * time.Millisecond
	maxBackoff   = 5 * time.Minute
	// maxDialBackoff bounds the wait between attempts to reopen a vanished
	// device, so a replugged adapter is found within seconds.
	maxDialBackoff = 5 * time.Second
	// stableSession is how long a session must last before a later loss
	// starts the backoff from the beginning again.
	stableSession = 5 * time.Minute
)

// serve runs the control loop until ctx is done: scheduled rekeys,
// keepalives, session checks, reconnects and hang-ups.
func (b *Bridge) serve(ctx context.Context) error {
	every := tick
	for _, d := range []time.Duration{b.cfg.RekeyInterval / 2, b.cfg.Keepalive / 2} {
		if d > 0 {
			every = max(min(every, d), time.Millisecond)
		}
	}
	t := time.NewTicker(every)
	defer t.Stop()
	b.mu.Lock()
	b.lastRekey = time.Now()
	b.mu.Unlock()
	overdue := false
	// suspectSince is when plain text arrived in the session (a rebooted
	// module prints RDY): any authentic frame after it proves the session
	// alive; else the session is checked at the next idle point, or after
	// probe_timeout even with an application command in flight (its
	// answer would never come).
	var suspectSince time.Time
	for {
		b.mu.Lock()
		lost := b.done
		b.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil
		case <-lost:
			if ctx.Err() != nil {
				return nil
			}
			b.mu.Lock()
			err := b.downErr
			b.mu.Unlock()
			if b.cfg.Dial == nil {
				return fmt.Errorf("%w: %s: %v", ErrModemLost, b.cfg.Device, err)
			}
			if err := b.reconnect(ctx, err); err != nil {
				return err
			}
		case <-b.suspect:
			if suspectSince.IsZero() {
				suspectSince = time.Now()
			}
		case <-b.detached:
			b.appGone(ctx)
		case now := <-t.C:
			if b.cfg.Heartbeat != nil {
				b.cfg.Heartbeat()
			}
			if !suspectSince.IsZero() {
				switch {
				case b.lastRx.Load() > suspectSince.UnixNano() || !b.isUp():
					suspectSince = time.Time{}
				case b.tryHold():
					suspectSince = time.Time{}
					b.checkSession(ctx, "plain text arrived during the session")
				case now.Sub(suspectSince) >= b.cfg.ProbeTimeout:
					suspectSince = time.Time{}
					b.holdNow()
					b.checkSession(ctx, "plain text arrived during the session, and no authentic answer since")
				}
				continue
			}
			due := b.rekeyDue(now)
			if due && b.tryHold() {
				overdue = false
				if err := b.rekey(ctx); err != nil {
					if !b.isUp() && ctx.Err() == nil {
						b.log.Error("session lost in a rekey; reopening", "err", err)
						b.reopen(ctx)
					} else {
						b.log.Warn("rekey failed; the session goes on", "err", err)
					}
				}
				b.mu.Lock()
				b.lastRekey = time.Now()
				b.mu.Unlock()
				continue
			}
			if due && !overdue && b.inDataMode() {
				overdue = true
				b.stats.Inc(counters.RekeysOverdue)
				b.log.Warn("rekey overdue: waiting for the data-mode call to end")
			}
			if b.keepaliveDue(now) && b.tryHold() {
				b.keepalive(ctx)
			}
		}
	}
}

// rekeyDue reports whether session.rekey_interval or session.rekey_bytes
// has been reached.
func (b *Bridge) rekeyDue(now time.Time) bool {
	b.mu.Lock()
	up, last, every, limit := b.up, b.lastRekey, b.rekeyEvery, b.rekeyBytes
	b.mu.Unlock()
	if !up {
		return false
	}
	if every > 0 && now.Sub(last) >= every {
		return true
	}
	if limit > 0 {
		moved := b.stats.Load(counters.AppBytesUp) + b.stats.Load(counters.AppBytesDown)
		return moved-b.rekeyBase.Load() >= uint64(limit)
	}
	return false
}

// keepaliveDue reports whether the session has been idle for
// session.keepalive in both directions.
func (b *Bridge) keepaliveDue(now time.Time) bool {
	if b.cfg.Keepalive <= 0 || !b.isUp() {
		return false
	}
	last := max(b.lastRx.Load(), b.lastTx.Load())
	return now.Sub(time.Unix(0, last)) >= b.cfg.Keepalive
}

// tryHold holds application input if the AT stream is idle in command
// mode right now, and reports whether it did.
func (b *Bridge) tryHold() bool {
	b.wmu.Lock()
	defer b.wmu.Unlock()
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.up || b.hold || !b.stream.idle(time.Now(), b.cfg.CommandTimeout) {
		return false
	}
	b.hold = true
	return true
}

// holdNow holds application input whatever the stream is doing (the
// module is gone or rebooted: a command in flight will not be answered).
func (b *Bridge) holdNow() {
	b.wmu.Lock()
	b.mu.Lock()
	b.hold = true
	b.mu.Unlock()
	b.wmu.Unlock()
}

func (b *Bridge) isUp() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.up
}

func (b *Bridge) inDataMode() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stream.data
}

// keepalive sends an encrypted AT on an idle session; the caller holds
// application input. No authentic answer means the session may be lost.
func (b *Bridge) keepalive(ctx context.Context) {
	_, err := b.command(ctx, commandSpec{line: "AT", name: "keepalive", framed: true, timeout: b.cfg.ProbeTimeout})
	b.lastRx.Store(time.Now().UnixNano())
	if err == nil {
		b.releaseHold()
		return
	}
	b.checkSession(ctx, "the keepalive got no authentic answer")
}

// releaseHold lets application input flow again after a command of the
// bridge's own.
func (b *Bridge) releaseHold() {
	if err := b.flushHeld(); err != nil {
		b.log.Warn("sending held input", "err", err)
	}
}

// checkSession finds out whether the module still has the session: an
// encrypted AT first, then a plain one. A plain answer means the module
// rebooted: the session is reopened.
// The caller holds application input.
func (b *Bridge) checkSession(ctx context.Context, why string) {
	if !b.isUp() {
		b.releaseHold()
		return
	}
	if _, err := b.command(ctx, commandSpec{line: "AT", name: "encrypted AT (session check)", framed: true, timeout: b.cfg.ProbeTimeout}); err == nil {
		b.log.Debug("session check: the session is alive", "why", why)
		b.releaseHold()
		return
	}
	b.setMode(modePlain)
	_, err := b.command(ctx, commandSpec{line: "AT", name: "plain AT (session check)", timeout: b.cfg.ProbeTimeout})
	if err != nil && !errors.Is(err, at.ErrCommand) {
		// Neither answered: keep the session and look again later.
		b.log.Warn("session check: the module answers neither encrypted nor plain AT", "why", why, "err", err)
		b.setMode(modeFramed)
		b.releaseHold()
		return
	}
	b.log.Warn("the module lost the secure session (rebooted?); reopening", "why", why)
	b.sessionLost()
	b.reopen(ctx)
}

// sessionLost marks the session gone and answers ERROR to an application
// command that can no longer be answered.
func (b *Bridge) sessionLost() {
	b.setState(StateModemLost)
	b.mu.Lock()
	b.up = false
	b.mode = modePlain
	inFlight := b.stream.inFlight || b.stream.prompt
	call := b.stream.data
	b.stream.inFlight, b.stream.prompt, b.stream.data, b.stream.escape = false, false, false, false
	b.mu.Unlock()
	switch {
	case call:
		b.log.Warn("a data-mode call was up when the session was lost: told the application NO CARRIER")
		b.replyApp(at.NoCarrier)
	case inFlight:
		b.log.Warn("an application command was in flight when the session was lost: answered ERROR")
		b.replyApp(at.Error)
	}
}

// reopen opens a new session on the current connection, with backoff
// between attempts, until it works or ctx ends.
func (b *Bridge) reopen(ctx context.Context) {
	b.setState(StateOpening)
	for ctx.Err() == nil {
		if !b.waitBackoff(ctx) {
			return
		}
		err := b.open(ctx)
		if err == nil {
			b.stats.Inc(counters.Reopens)
			b.sessionUp()
			return
		}
		b.log.Warn("reopening the secure session failed; retrying", "err", err)
		if errors.Is(err, ErrModemLost) {
			return // the control loop reconnects
		}
	}
}

// waitBackoff waits before an open or reconnect after a loss: not at all
// the first time, then twice as long each time up to maxBackoff, starting
// over once a session has lasted stableSession.
func (b *Bridge) waitBackoff(ctx context.Context) bool {
	now := time.Now()
	if now.Sub(b.nextOpen) > stableSession {
		b.openFails = 0
	}
	wait := time.Duration(0)
	if b.openFails > 0 {
		wait = min(firstBackoff<<min(b.openFails-1, 20), maxBackoff)
	}
	b.openFails++
	b.nextOpen = now.Add(wait)
	if wait == 0 {
		return true
	}
	b.log.Info("waiting before the next open", "wait", wait)
	select {
	case <-time.After(wait):
		return true
	case <-ctx.Done():
		return false
	}
}

// reconnect replaces a failed modem connection: it closes the old one,
// reopens the device with backoff, finds out whether the module kept the
// session and resumes. Application input is held meanwhile.
func (b *Bridge) reconnect(ctx context.Context, cause error) error {
	b.log.Warn("modem connection lost; reconnecting", "device", b.cfg.Device, "err", cause)
	b.setState(StateModemLost)
	b.holdNow()
	b.mu.Lock()
	b.up = false
	old := b.modem
	b.mu.Unlock()
	old.Close()
	dialWait := time.Duration(0)
	for {
		// Reopening the device costs the module nothing: retry it often
		// (up to maxDialBackoff); opens of the session back off further.
		select {
		case <-time.After(dialWait):
		case <-ctx.Done():
			return nil
		}
		dialWait = min(max(2*dialWait, firstBackoff), maxDialBackoff)
		conn, err := b.cfg.Dial(ctx)
		if err != nil {
			b.log.Debug("reopening the modem", "err", err)
			continue
		}
		if !b.waitBackoff(ctx) {
			conn.Close()
			return nil
		}
		done := make(chan struct{})
		b.wmu.Lock()
		b.mu.Lock()
		b.modem, b.done, b.downErr = conn, done, nil
		b.mode = modePlain
		b.opener.Reset()
		b.mu.Unlock()
		b.wmu.Unlock()
		go b.downstream(conn, done)
		b.stats.Inc(counters.Reconnects)
		if b.inDataMode() && b.resumeCall(ctx) {
			b.log.Info("modem connection restored; the call goes on", "device", b.cfg.Device)
			return nil
		}
		if err := b.start(ctx, true); err != nil {
			b.log.Warn("after reconnecting, the session could not be resumed", "err", err)
			b.mu.Lock()
			b.downStopped = true
			conn.SetReadDeadline(time.Unix(1, 0))
			b.mu.Unlock()
			<-done
			conn.Close()
			b.mu.Lock()
			b.downStopped = false
			b.mu.Unlock()
			if ctx.Err() != nil {
				return nil
			}
			continue
		}
		b.log.Info("modem connection restored", "device", b.cfg.Device)
		return nil
	}
}

// resumeCall finds a data-mode call the module kept while the adapter was
// away: it escapes to command mode (an authentic OK proves the session)
// and goes back to the call with ATO. It reports false when the module did
// not answer, so the caller probes it as usual.
func (b *Bridge) resumeCall(ctx context.Context) bool {
	b.setMode(modeFramed)
	guard := b.cfg.EscapeGuard
	select {
	case <-time.After(guard + guard/5):
	case <-ctx.Done():
		return false
	}
	if _, err := b.command(ctx, commandSpec{line: "+++", name: "+++ escape (resume)", framed: true, raw: true,
		timeout: 2*guard + b.cfg.ProbeTimeout}); err != nil {
		b.setMode(modePlain)
		return false
	}
	b.mu.Lock()
	b.stream.data = false
	b.mu.Unlock()
	if _, err := b.command(ctx, commandSpec{line: "ATO", name: "ATO (resume the call)", framed: true, connect: true,
		timeout: b.cfg.ProbeTimeout}); err != nil {
		b.log.Warn("the call could not be resumed", "err", err)
		b.replyApp(at.NoCarrier)
	}
	b.sessionUp()
	return true
}

// AppDetached tells the bridge that the application closed the virtual tty.
// If the stream was in data mode the bridge ends the call, as dropping DTR
// would on a real serial port.
func (b *Bridge) AppDetached() { b.signal(b.detached) }

// appGone ends a data-mode call the application left behind.
func (b *Bridge) appGone(ctx context.Context) {
	if !b.inDataMode() || !b.isUp() {
		return
	}
	b.holdNow()
	if err := b.hangUp(ctx); err != nil {
		b.log.Warn("ending the call the application left", "err", err)
	}
	b.releaseHold()
}
