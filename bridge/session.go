package bridge

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/c2cbridge/c2cbridge/at"
	"github.com/c2cbridge/c2cbridge/counters"
	c2c "github.com/c2cbridge/c2cbridge/crypto"
	"github.com/c2cbridge/c2cbridge/usec"
)

// This file opens sessions: the start-up probe, the open, the key check
// and the rekey (docs/protocol.md, "Session states" and "Rekeying").

// start finds out where the module is and opens the session: a plain AT
// first; if that gets no answer, an encrypted AT in case a session is still
// open from a previous run; then AT+USECC2C=1. After a reconnect the module
// has usually kept its session, so the encrypted AT goes first: a plain one
// would reach a module in a session as stray bytes; and only an actual
// open waits the open backoff.
func (b *Bridge) start(ctx context.Context, reconnect bool) error {
	if reconnect {
		b.setPhase(StateOpening) // the UART is back: probing it
	}
	defer b.ctrl.dropPrevious() // confirmed or replaced by the end of the start-up
	b.log.Info("probing the module", "device", b.cfg.Device, "keys", b.fingerprintText())
	if reconnect && b.probeSession(ctx) {
		b.log.Info("the module kept the secure session; carrying on")
		b.sessionUp()
		return nil
	}
	_, err := b.command(ctx, simple("AT", "plain AT probe", b.cfg.ProbeTimeout))
	switch {
	case err == nil:
	case errors.Is(err, at.ErrTimeout):
		if !reconnect && (b.probeSessionAnyGeneration(ctx) || b.endStrandedCall(ctx)) {
			s := b.currentSecrets()
			b.log.Info("a secure session is still open from a previous run; carrying on with it",
				"version", s.Version().String(), "fingerprint", s.Fingerprint())
			s.Zero()
			b.sessionUp()
			return nil
		}
		return fmt.Errorf("%w on %s: neither a plain nor an encrypted AT was answered within %v; check the device path, modem.baud, the wiring and that the module is powered",
			ErrNoAnswer, b.cfg.Device, b.cfg.ProbeTimeout)
	case errors.Is(err, at.ErrCommand):
		// An answer in the clear all the same: the module is in plain text.
	default:
		return err
	}
	if reconnect {
		// The module speaks plain text: it lost the session (a reboot).
		b.sessionLost()
		if !b.waitBackoff(ctx) {
			return ctx.Err()
		}
	}
	b.setPhase(StateOpening)
	if err := b.open(ctx); err != nil {
		return err
	}
	// The key file may still hold the previous generation: a rekey with
	// new secrets was not confirmed before the last run ended.
	prev := b.ctrl.previous
	if err := b.confirmOpen(ctx, prev); err != nil {
		return err
	}
	if prev != nil {
		b.saveCurrent()
	}
	b.sessionUp()
	return nil
}

// confirmOpen proves the session just opened with an encrypted AT (an
// open carries only te_secret and cannot tell a wrong key): the session
// is "unconfirmed" until an authentic answer comes back. Without one it
// tries prev, the other generation, if it is still kept.
func (b *Bridge) confirmOpen(ctx context.Context, prev *c2c.Secrets) error {
	b.setPhase(StateUnconfirmed)
	_, err := b.command(ctx, b.encryptedAT("encrypted AT (key check)"))
	switch {
	case err == nil:
		return nil
	case prev == nil:
		return fmt.Errorf("%w: the module opened the session but gives no authentic answer to frames made with the key file's key (fingerprint %s): keys.file does not hold this module's current secrets; restore them or pair again (%v)",
			ErrRefused, b.fingerprintText(), err)
	}
	b.log.Error("the new secrets got no authentic answer; trying the previous ones", "err", err)
	b.useSecrets(prev)
	b.setMode(modeFramed)
	if _, err := b.command(ctx, b.encryptedAT("encrypted AT (previous secrets)")); err != nil {
		return fmt.Errorf("open session: neither the new nor the previous secrets are answered: %w", err)
	}
	b.log.Warn("the module still uses the previous secrets", "fingerprint", prev.Fingerprint())
	return nil
}

// encryptedAT is the spec of an AT inside a frame, the bridge's probe of a
// session, named for the log.
func (b *Bridge) encryptedAT(name string) commandSpec {
	s := simple("AT", name, b.cfg.ProbeTimeout)
	s.framed = true
	return s
}

// fingerprintText describes the current secrets for a log line.
func (b *Bridge) fingerprintText() string {
	s := b.currentSecrets()
	defer s.Zero()
	return s.String()
}

// probeSessionAnyGeneration probes a session left open by a previous run,
// with the current secrets and, if the key file still holds them, the
// previous ones. An authentic answer confirms that generation, and the key
// file is rewritten with it alone.
func (b *Bridge) probeSessionAnyGeneration(ctx context.Context) bool {
	ok := b.probeSession(ctx)
	prev := b.ctrl.previous
	if prev == nil {
		return ok
	}
	if !ok {
		cur := b.currentSecrets()
		defer cur.Zero()
		b.useSecrets(prev)
		if !b.probeSession(ctx) {
			b.useSecrets(&cur)
			return false
		}
		b.log.Warn("the module still uses the previous secrets", "fingerprint", prev.Fingerprint())
	}
	b.saveCurrent()
	return true
}

// endStrandedCall ends a data-mode call a previous run left in a session
// (it crashed mid-call): the module takes every probe for call data, so
// only the escape reaches it. An authentic OK to "+++" proves the session;
// ATH ends the call. It reports whether the session is there.
func (b *Bridge) endStrandedCall(ctx context.Context) bool {
	b.setMode(modeFramed)
	b.mu.Lock()
	b.stream.startCall(time.Now()) // as far as the bridge can tell
	b.mu.Unlock()
	switch err := b.escape(ctx, "+++ escape (a call left by a previous run?)"); {
	case err == errCallEnded:
		return true // it ended by itself
	case err != nil:
		b.mu.Lock()
		b.stream.endCall()
		b.mu.Unlock()
		b.setMode(modePlain)
		return false
	}
	b.log.Warn("a data-mode call was left from a previous run; ending it")
	ath := simple("ATH", "ATH", b.cfg.CommandTimeout)
	ath.framed = true
	if _, err := b.command(ctx, ath); err != nil {
		b.log.Warn("ending the call left from a previous run", "err", err)
	}
	return true
}

// probeSession sends an encrypted AT and reports whether an authentic OK
// came back. It leaves downstream in plain mode when not.
func (b *Bridge) probeSession(ctx context.Context) bool {
	b.setMode(modeFramed)
	if _, err := b.command(ctx, b.encryptedAT("encrypted AT probe")); err == nil {
		return true
	}
	b.setMode(modePlain)
	return false
}

// open sends AT+USECC2C=1 with te_secret; downstream switches to frames on
// its plain OK.
func (b *Bridge) open(ctx context.Context) error {
	s := b.currentSecrets()
	defer s.Zero()
	b.log.Debug("opening the secure session", "version", s.Version().String(), "fingerprint", s.Fingerprint())
	_, err := b.command(ctx, commandSpec{
		line:     usec.OpenCommand(&s.TESecret),
		name:     "AT+USECC2C=1 (open)",
		timeout:  b.cfg.OpenTimeout,
		toFramed: true,
	})
	b.stats.Inc(counters.Opens)
	var re *at.ResultError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &re):
		return fmt.Errorf("%w: it answered %q to AT+USECC2C=1 on %s; check that keys.file holds this module's pairing (fingerprint %s) or pair it again with c2cbridge pair",
			ErrRefused, re.Result, b.cfg.Device, s.Fingerprint())
	case errors.Is(err, at.ErrTimeout):
		return fmt.Errorf("%w on %s: AT+USECC2C=1 (open) got no answer within %v (session.open_timeout)", ErrNoAnswer, b.cfg.Device, b.cfg.OpenTimeout)
	}
	return fmt.Errorf("open session: %w", err)
}

// sessionUp marks the session open and lets held application input flow.
func (b *Bridge) sessionUp() {
	b.setMode(modeFramed)
	b.setPhase(StateOpen)
	s := b.currentSecrets()
	defer s.Zero()
	b.log.Info("secure session open", "device", b.cfg.Device, "version", s.Version().String(), "fingerprint", s.Fingerprint())
	if s.Version() == c2c.V1 && b.stats.Load(counters.Opens) <= 1 {
		b.log.Warn("the module speaks C2C V1: frames are checked by an unkeyed hash inside the encryption, weaker than V2's HMAC")
	}
	b.releaseHold()
}

// rekey runs a scheduled rekey; the caller holds application input at an
// idle point. It first asks whether the key file can be written (a rekey
// may bring secrets that must not live only in memory); after a failure it
// goes on with the session if the module kept it, else reopens.
func (b *Bridge) rekey(ctx context.Context) {
	defer func() {
		b.mu.Lock()
		b.sched.tried = time.Now()
		b.mu.Unlock()
	}()
	if b.cfg.CanSave != nil {
		if err := b.cfg.CanSave(); err != nil {
			b.keyFileFailed(fmt.Errorf("rekey skipped: the key file cannot be written: %w", err))
			b.releaseHold()
			return
		}
	}
	lost, err := b.rekeyOnce(ctx)
	switch {
	case err == nil:
	case lost && ctx.Err() == nil:
		b.log.Error("session lost in a rekey; reopening", "err", err)
		b.reopen(ctx)
	default:
		b.log.Warn("rekey failed; the session goes on", "err", err)
	}
}

// rekeyOnce runs AT+USECC2C=3 and opens the next session. With new
// secrets in the answer they become the current ones, saved first. It
// reports whether the session was lost with the error.
func (b *Bridge) rekeyOnce(ctx context.Context) (lost bool, err error) {
	b.setPhase(StateRekeying)
	b.act.rekeyBase.Store(b.stats.Load(counters.AppBytesUp) + b.stats.Load(counters.AppBytesDown))
	b.act.bytesDue.Store(false)
	resp, err := b.command(ctx, commandSpec{line: usec.RekeyCommand(), name: "AT+USECC2C=3 (rekey)", framed: true,
		timeout: b.cfg.CommandTimeout, expect: usec.AnswerPrefix, toPlain: true})
	if err != nil {
		b.mu.Lock()
		framed := b.mode == modeFramed
		b.mu.Unlock()
		switch {
		case errors.Is(err, ErrModemLost):
			// The control loop reconnects; input stays held.
		case framed:
			// The module refused inside the session: it is still open.
			b.setPhase(StateOpen)
			b.releaseHold()
		default:
			lost = true
		}
		return lost, fmt.Errorf("rekey: %w", err)
	}
	b.stats.Inc(counters.Rekeys)
	line, fresh := usec.FindAnswer(usec.OpRekey, resp.Lines)
	if fresh {
		err = b.adoptRekeyAnswer(ctx, line)
	} else if err = b.open(ctx); err == nil {
		err = b.confirmOpen(ctx, nil)
	}
	if err != nil {
		return true, fmt.Errorf("rekey: %w", err)
	}
	b.mu.Lock()
	b.sched.done = time.Now()
	b.mu.Unlock()
	b.sessionUp()
	return false, nil
}

// adoptRekeyAnswer makes the secrets of a rekey answer current: saved with
// the old generation beside them, opened, confirmed by an authentic answer
// (else the old generation is tried), saved alone.
func (b *Bridge) adoptRekeyAnswer(ctx context.Context, line string) error {
	prev := b.currentSecrets()
	defer prev.Zero()
	next, err := usec.ParseRekeyAnswer(line, &prev.TESecret)
	if err != nil {
		return err
	}
	defer next.Zero()
	b.log.Info("rekey: the module issued new secrets", "fingerprint", next.Fingerprint(), "previous", prev.Fingerprint())
	b.save(next, &prev)
	b.useSecrets(next)
	if err := b.open(ctx); err != nil {
		return err
	}
	if err := b.confirmOpen(ctx, &prev); err != nil {
		return err
	}
	b.saveCurrent()
	return nil
}

// adoptUnsolicited makes next current: the module ran a rekey the bridge
// did not send (a command that got past the bridge's checks) and issued
// new secrets. Losing them would lose the module, so the bridge saves
// them and opens the next session with them, as after its own rekey.
func (b *Bridge) adoptUnsolicited(ctx context.Context, next *c2c.Secrets) {
	defer next.Zero()
	if !b.inSession() {
		return
	}
	b.log.Error("the module ran a rekey the bridge did not send; adopting the secrets it issued", "fingerprint", next.Fingerprint())
	b.holdNow()
	b.setPhase(StateRekeying)
	b.setMode(modePlain)
	prev := b.currentSecrets()
	defer prev.Zero()
	b.save(next, &prev)
	b.useSecrets(next)
	err := b.open(ctx)
	if err == nil {
		err = b.confirmOpen(ctx, &prev)
	} else {
		// No answer to the open: the module may still be in the old
		// session after all.
		b.useSecrets(&prev)
		if b.probeSession(ctx) {
			b.log.Warn("the module still answers in the previous session; carrying on with it")
			err = nil
		}
	}
	if err != nil {
		b.log.Error("opening a session after the module's own rekey failed; reopening", "err", err)
		b.reopen(ctx)
		return
	}
	b.saveCurrent()
	b.sessionUp()
}
