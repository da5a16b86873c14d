package bridge

import (
	"context"
	"errors"
	"time"

	"github.com/c2cbridge/c2cbridge/at"
	"github.com/c2cbridge/c2cbridge/counters"
)

// This file recovers a session: keepalives and session checks, a module
// that rebooted (reopen with backoff), a UART that went away (reconnect),
// and data-mode calls to resume or end.

// Timings of recovery.
const (
	// firstBackoff and maxBackoff bound the wait between opens after a
	// lost session. The vendor allows only 100 opens during the
	// evaluation period (docs/protocol.md, "Errors and timeouts"): a
	// reboot loop must not burn them.
	firstBackoff = 250 * time.Millisecond
	maxBackoff   = 5 * time.Minute
	// maxDialBackoff bounds the wait between attempts to reopen a vanished
	// device, so a replugged adapter is found within seconds.
	maxDialBackoff = 5 * time.Second
	// stableSession is how long a session must last before a later loss
	// starts the backoff from the beginning again.
	stableSession = 5 * time.Minute
)

// keepalive sends an encrypted AT on an idle session; the caller holds
// application input. No authentic answer means the session may be lost.
func (b *Bridge) keepalive(ctx context.Context) {
	_, err := b.command(ctx, b.encryptedAT("keepalive"))
	b.ctrl.keepaliveSent = time.Now()
	if err == nil {
		b.releaseHold()
		return
	}
	b.checkSession(ctx, "the keepalive got no authentic answer")
}

// checkSession finds out whether the module still has the session: an
// encrypted AT first, then a plain one. A plain answer means the module
// rebooted: the session is reopened. The caller holds application input.
func (b *Bridge) checkSession(ctx context.Context, why string) {
	if s := b.state(); s != StateOpen && s != StateUnconfirmed {
		b.releaseHold()
		return
	}
	b.setPhase(StateUnconfirmed)
	defer func() { b.ctrl.keepaliveSent = time.Now() }()
	if _, err := b.command(ctx, b.encryptedAT("encrypted AT (session check)")); err == nil {
		b.log.Debug("session check: the session is alive", "why", why)
		b.setPhase(StateOpen)
		b.releaseHold()
		return
	}
	b.setMode(modePlain)
	_, err := b.command(ctx, simple("AT", "plain AT (session check)", b.cfg.ProbeTimeout))
	if err != nil && !errors.Is(err, at.ErrCommand) {
		// Neither answered: keep the session and look again later.
		b.log.Warn("session check: the module answers neither encrypted nor plain AT", "why", why, "err", err)
		b.setMode(modeFramed)
		b.releaseHold()
		return // unconfirmed until a check or keepalive gets an authentic answer
	}
	b.log.Warn("the module lost the secure session (rebooted?); reopening", "why", why)
	b.sessionLost()
	b.reopen(ctx)
}

// sessionLost marks the session lost on a UART that still works and
// answers ERROR to an application command that can no longer be answered.
func (b *Bridge) sessionLost() {
	b.setPhase(StateModuleRebooted)
	b.mu.Lock()
	b.mode = modePlain
	inFlight := b.stream.inFlight
	call := b.stream.data
	b.stream.reset()
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
// between attempts, until it works, the connection fails or ctx ends.
func (b *Bridge) reopen(ctx context.Context) {
	for ctx.Err() == nil {
		if !b.waitBackoff(ctx) {
			return
		}
		b.setPhase(StateOpening)
		err := b.open(ctx)
		if err == nil {
			err = b.confirmOpen(ctx, nil)
		}
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

// waitBackoff waits before an open after a loss: not at all the first
// time, then twice as long each time up to maxBackoff, starting over once
// a session has lasted stableSession. The heartbeat goes on meanwhile.
func (b *Bridge) waitBackoff(ctx context.Context) bool {
	now := time.Now()
	if now.Sub(b.ctrl.nextOpen) > stableSession {
		b.ctrl.openFails = 0
	}
	wait := time.Duration(0)
	if b.ctrl.openFails > 0 {
		wait = min(firstBackoff<<min(b.ctrl.openFails-1, 20), maxBackoff)
	}
	b.ctrl.openFails++
	b.ctrl.nextOpen = now.Add(wait)
	if wait == 0 {
		return true
	}
	b.log.Info("waiting before the next open", "wait", wait)
	return b.sleep(ctx, wait)
}

// reconnect replaces the failed link old: it stops it, reopens the device
// (every few seconds at most), finds out whether the module kept the
// session and resumes. Application input is held meanwhile.
func (b *Bridge) reconnect(ctx context.Context, old *link) error {
	b.log.Warn("modem connection lost; reconnecting", "device", b.cfg.Device, "err", old.cause())
	b.setPhase(StateModemLost)
	b.holdNow()
	old.stop()
	dialWait := time.Duration(0)
	for {
		// Reopening the device costs the module nothing: retry it often.
		if !b.sleep(ctx, dialWait) {
			return nil
		}
		dialWait = min(max(2*dialWait, firstBackoff), maxDialBackoff)
		conn, err := b.cfg.Dial(ctx)
		if err != nil {
			b.log.Debug("reopening the modem", "err", err)
			continue
		}
		l := b.useLink(conn)
		b.stats.Inc(counters.Reconnects)
		if b.inDataMode() && b.resumeCall(ctx) {
			b.log.Info("modem connection restored; the call goes on", "device", b.cfg.Device)
			return nil
		}
		if err := b.start(ctx, true); err != nil {
			b.log.Warn("after reconnecting, the session could not be resumed", "err", err)
			l.stop()
			if ctx.Err() != nil {
				return nil
			}
			b.setPhase(StateModemLost)
			continue
		}
		b.log.Info("modem connection restored", "device", b.cfg.Device)
		return nil
	}
}

// useLink makes conn the current link, read in plain mode until a probe
// says otherwise.
func (b *Bridge) useLink(conn ModemConn) *link {
	b.wmu.Lock()
	defer b.wmu.Unlock()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.mode = modePlain
	b.keys.opener.Reset()
	b.link = newLink(conn)
	go b.downstream(b.link)
	return b.link
}

// resumeCall finds a data-mode call the module kept while the adapter was
// away: it escapes to command mode (an authentic OK proves the session)
// and goes back to the call with ATO. It reports false when the module did
// not answer, so the caller probes it as usual.
func (b *Bridge) resumeCall(ctx context.Context) bool {
	b.setMode(modeFramed)
	switch err := b.escape(ctx, "+++ escape (resume)"); {
	case err == errCallEnded:
		// The call ended while the adapter was away; the session is there.
		b.replyApp(at.NoCarrier)
		b.sessionUp()
		return true
	case err != nil:
		b.setMode(modePlain)
		return false
	}
	ato := simple("ATO", "ATO (resume the call)", b.cfg.ProbeTimeout)
	ato.framed, ato.connect = true, true
	if _, err := b.command(ctx, ato); err != nil {
		b.log.Warn("the call could not be resumed", "err", err)
		b.replyApp(at.NoCarrier)
	}
	b.sessionUp()
	return true
}

// escape leaves data mode as a module expects: a quiet guard time, "+++"
// with no CR, and its OK after another guard. The caller makes sure the
// application sends nothing meanwhile.
func (b *Bridge) escape(ctx context.Context, name string) error {
	guard := b.cfg.EscapeGuard
	if !b.sleep(ctx, guard+guard/5) {
		return ctx.Err()
	}
	if !b.inDataMode() {
		return errCallEnded // the module's NO CARRIER came meanwhile
	}
	esc := simple("+++", name, 2*guard+b.cfg.ProbeTimeout)
	esc.framed, esc.raw = true, true
	_, err := b.command(ctx, esc)
	var re *at.ResultError
	if errors.As(err, &re) && re.Result == at.NoCarrier {
		err = errCallEnded // the other end hung up meanwhile
	}
	if err == nil || err == errCallEnded {
		b.mu.Lock()
		b.stream.endCall()
		b.mu.Unlock()
	}
	return err
}

// errCallEnded is escape's answer when the module ended the call itself
// (NO CARRIER) while the escape waited for its OK.
var errCallEnded = errors.New("the call ended (NO CARRIER)")

// hangUp ends a data-mode call the way dropping DTR would on a real serial
// port: the escape, then ATH.
func (b *Bridge) hangUp(ctx context.Context) error {
	b.log.Info("ending the data-mode call (+++, ATH)")
	switch err := b.escape(ctx, "+++ escape"); {
	case err == errCallEnded:
		return nil
	case err != nil:
		return err
	}
	ath := simple("ATH", "ATH", b.cfg.CommandTimeout)
	ath.framed = true
	_, err := b.command(ctx, ath)
	return err
}

// appGone ends a data-mode call the application left behind.
func (b *Bridge) appGone(ctx context.Context) {
	if !b.inDataMode() || b.state() != StateOpen {
		return
	}
	b.holdNow()
	if err := b.hangUp(ctx); err != nil {
		b.log.Warn("ending the call the application left", "err", err)
	}
	b.releaseHold()
}

// settleEscape makes the module's mode certain after the application's
// possible escape got no OK: the module may have taken it (and its OK be
// late or lost) or not. The bridge sends an escape of its own: an OK means
// command mode, and the held input is checked as command lines; no answer
// means the module stays in the call, and the held input is call data.
func (b *Bridge) settleEscape(ctx context.Context) {
	if !b.inDataMode() || b.state() != StateOpen {
		return
	}
	b.holdNow()
	defer b.releaseHold()
	switch err := b.escape(ctx, "+++ escape (the application's got no answer)"); {
	case err == nil, err == errCallEnded:
		b.log.Info("the application's escape was settled: the module is in command mode")
	default:
		b.log.Warn("the module answered neither escape: the call goes on", "err", err)
		b.mu.Lock()
		b.stream.escape = false
		b.mu.Unlock()
	}
}
