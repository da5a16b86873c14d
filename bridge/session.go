package bridge

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/c2cbridge/c2cbridge/at"
	"github.com/c2cbridge/c2cbridge/counters"
	c2c "github.com/c2cbridge/c2cbridge/crypto"
)

// start finds out where the module is and opens the session: a plain AT
// first; if that gets no answer, an encrypted AT in case a session is still
// open from a previous run; then AT+USECC2C=1. After a reconnect the module
// has usually kept its session, so the encrypted AT goes first: a plain one
// would reach a module in a session as stray bytes.
func (b *Bridge) start(ctx context.Context, reconnect bool) error {
	b.setState(StateOpening)
	b.log.Info("probing the module", "device", b.cfg.Device, "keys", b.secrets.String())
	if reconnect && b.probeSession(ctx) {
		b.log.Info("the module kept the secure session; carrying on")
		b.sessionUp()
		return nil
	}
	_, err := b.command(ctx, commandSpec{line: "AT", name: "plain AT probe", timeout: b.cfg.ProbeTimeout})
	switch {
	case err == nil:
	case errors.Is(err, at.ErrTimeout):
		if !reconnect && b.probeSessionAnyGeneration(ctx) {
			b.log.Info("a secure session is still open from a previous run; carrying on with it",
				"version", b.secrets.Version().String(), "fingerprint", b.secrets.Fingerprint())
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
	}
	if err := b.open(ctx); err != nil {
		return err
	}
	switch {
	case b.cfg.Previous != nil && !reconnect:
		// The key file still holds the previous generation: a rekey with
		// new secrets was not confirmed before the last run ended.
		prev := *b.cfg.Previous
		prev.TESecret = b.secrets.TESecret
		defer prev.Zero()
		if err := b.confirm(ctx, &prev); err != nil {
			return fmt.Errorf("open session: %w", err)
		}
		cur := b.currentSecrets()
		b.save(&cur, nil)
		cur.Zero()
	default:
		// An open carries only te_secret: check the key with an encrypted AT.
		if _, err := b.command(ctx, commandSpec{line: "AT", name: "encrypted AT (key check)", framed: true, timeout: b.cfg.ProbeTimeout}); err != nil {
			return fmt.Errorf("%w: the module opened the session but gives no authentic answer to frames made with the key file's key (fingerprint %s): keys.file does not hold this module's current secrets; restore them or pair again (%v)",
				ErrRefused, b.secrets.Fingerprint(), err)
		}
	}
	b.sessionUp()
	return nil
}

// probeSessionAnyGeneration probes a session left open by a previous run,
// with the current secrets and, if the key file still holds them, the
// previous ones. An authentic answer confirms that generation, and the key
// file is rewritten with it alone.
func (b *Bridge) probeSessionAnyGeneration(ctx context.Context) bool {
	ok := b.probeSession(ctx)
	if b.cfg.Previous == nil {
		return ok
	}
	if !ok {
		prev := *b.cfg.Previous
		prev.TESecret = b.secrets.TESecret
		defer prev.Zero()
		b.useSecrets(&prev)
		if !b.probeSession(ctx) {
			return false
		}
		b.log.Warn("the module still uses the previous secrets", "fingerprint", prev.Fingerprint())
	}
	cur := b.currentSecrets()
	b.save(&cur, nil)
	cur.Zero()
	return true
}

// probeSession sends an encrypted AT and reports whether an authentic OK
// came back. It leaves downstream in plain mode when not.
func (b *Bridge) probeSession(ctx context.Context) bool {
	b.setMode(modeFramed)
	_, err := b.command(ctx, commandSpec{line: "AT", name: "encrypted AT probe", framed: true, timeout: b.cfg.ProbeTimeout})
	if err == nil {
		return true
	}
	b.setMode(modePlain)
	return false
}

// open sends AT+USECC2C=1 with te_secret; downstream switches to frames on
// its plain OK.
func (b *Bridge) open(ctx context.Context) error {
	b.log.Debug("opening the secure session", "version", b.secrets.Version().String(), "fingerprint", b.secrets.Fingerprint())
	_, err := b.command(ctx, commandSpec{
		line:     `AT+USECC2C=1,"` + b.secrets.TESecret.Hex() + `"`,
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
			ErrRefused, re.Result, b.cfg.Device, b.secrets.Fingerprint())
	case errors.Is(err, at.ErrTimeout):
		return fmt.Errorf("%w on %s: AT+USECC2C=1 (open) got no answer within %v (session.open_timeout)", ErrNoAnswer, b.cfg.Device, b.cfg.OpenTimeout)
	}
	return fmt.Errorf("open session: %w", err)
}

// sessionUp marks the session open and lets held application input flow.
func (b *Bridge) sessionUp() {
	b.mu.Lock()
	b.up = true
	b.mode = modeFramed
	b.mu.Unlock()
	b.setState(StateOpen)
	b.log.Info("secure session open", "device", b.cfg.Device, "version", b.secrets.Version().String(), "fingerprint", b.secrets.Fingerprint())
	if b.secrets.Version() == c2c.V1 && b.stats.Load(counters.Opens) <= 1 {
		b.log.Warn("the module speaks C2C V1: frames are checked by an unkeyed hash inside the encryption, weaker than V2's HMAC")
	}
	if err := b.flushHeld(); err != nil {
		b.log.Warn("sending held input", "err", err)
	}
}

// rekey runs AT+USECC2C=3 and opens the next session, as
// section 5 of the protocol says; the caller holds application input at an
// idle point. With new secrets in the answer they become
// the current ones (SaveSecrets, if set, persists them first).
func (b *Bridge) rekey(ctx context.Context) error {
	b.setState(StateRekeying)
	b.rekeyBase.Store(b.stats.Load(counters.AppBytesUp) + b.stats.Load(counters.AppBytesDown))
	resp, err := b.command(ctx, commandSpec{line: "AT+USECC2C=3", name: "AT+USECC2C=3 (rekey)", framed: true,
		timeout: b.cfg.CommandTimeout, expect: "+USECC2C:", toPlain: true})
	if err != nil {
		b.mu.Lock()
		up := b.up
		b.mu.Unlock()
		if up {
			// The module refused inside the session: it is still open.
			b.setState(StateOpen)
			b.flushHeld()
		}
		return fmt.Errorf("rekey: %w", err)
	}
	b.stats.Inc(counters.Rekeys)
	line, fresh := resp.Line("+USECC2C:")
	if !fresh {
		if err := b.open(ctx); err != nil {
			return fmt.Errorf("rekey: %w", err)
		}
		b.sessionUp()
		return nil
	}
	next, err := parseRekeyAnswer(line, &b.secrets)
	if err != nil {
		return fmt.Errorf("rekey: %w", err)
	}
	prev := b.secrets
	defer prev.Zero()
	b.log.Info("rekey: the module issued new secrets", "fingerprint", next.Fingerprint(), "previous", prev.Fingerprint())
	b.save(next, &prev)
	b.useSecrets(next)
	next.Zero()
	if err := b.open(ctx); err != nil {
		return fmt.Errorf("rekey: %w", err)
	}
	if err := b.confirm(ctx, &prev); err != nil {
		return fmt.Errorf("rekey: %w", err)
	}
	cur := b.currentSecrets()
	b.save(&cur, nil)
	cur.Zero()
	b.sessionUp()
	return nil
}

// confirm checks the current secrets with an encrypted AT right after an
// open (an open cannot tell a wrong key) and, if no authentic OK comes back,
// falls back to prev. It returns an error if neither generation is answered.
func (b *Bridge) confirm(ctx context.Context, prev *c2c.Secrets) error {
	_, err := b.command(ctx, commandSpec{line: "AT", name: "encrypted AT (new secrets)", framed: true, timeout: b.cfg.ProbeTimeout})
	if err == nil {
		return nil
	}
	b.log.Error("the new secrets got no authentic answer; trying the previous ones", "err", err)
	b.useSecrets(prev)
	b.setMode(modeFramed)
	if _, err := b.command(ctx, commandSpec{line: "AT", name: "encrypted AT (previous secrets)", framed: true, timeout: b.cfg.ProbeTimeout}); err != nil {
		return fmt.Errorf("neither the new nor the previous secrets are answered: %w", err)
	}
	b.log.Warn("the module still uses the previous secrets", "fingerprint", prev.Fingerprint())
	return nil
}

// useSecrets makes s the current secrets, with a fresh sealer and opener.
func (b *Bridge) useSecrets(s *c2c.Secrets) {
	b.mu.Lock()
	b.secrets = *s
	b.mu.Unlock()
	if err := b.newCodec(); err != nil {
		// Only a bad key size fails here, and secrets are fixed-size arrays.
		panic("bridge: codec for new secrets: " + err.Error())
	}
}

// currentSecrets returns a copy of the current secrets; zero it after use.
func (b *Bridge) currentSecrets() c2c.Secrets {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.secrets
}

// save persists secrets through SaveSecrets, logging (never returning) a
// failure: the module has moved on and the session must go on with it.
func (b *Bridge) save(cur, prev *c2c.Secrets) {
	if b.cfg.SaveSecrets == nil {
		return
	}
	if err := b.cfg.SaveSecrets(cur, prev); err != nil {
		b.log.Error("saving the key file failed: the module's current secrets are only in memory; fix the key file's directory before the bridge restarts", "err", err)
	}
}

// parseRekeyAnswer reads +USECC2C: 3,0,"<key>"[,"<hmac_key>"] into the next
// generation's secrets (te_secret unchanged).
func parseRekeyAnswer(line string, cur *c2c.Secrets) (*c2c.Secrets, error) {
	rest := strings.TrimSpace(strings.TrimPrefix(line, "+USECC2C:"))
	parts := strings.Split(rest, ",")
	if len(parts) < 3 || strings.TrimSpace(parts[0]) != "3" || strings.TrimSpace(parts[1]) != "0" {
		return nil, errors.New("unexpected +USECC2C answer to the rekey")
	}
	next := &c2c.Secrets{TESecret: cur.TESecret}
	var err error
	if next.Key, err = c2c.ParseSecret(strings.Trim(parts[2], `" `)); err != nil {
		return nil, fmt.Errorf("new key: %w", err)
	}
	if len(parts) > 3 {
		if next.HMACKey, err = c2c.ParseSecret(strings.Trim(parts[3], `" `)); err != nil {
			return nil, fmt.Errorf("new hmac_key: %w", err)
		}
	}
	return next, nil
}

// hangUp ends a data-mode call the way dropping DTR would on a real serial
// port: a quiet guard, "+++", its OK after another guard, then ATH. The
// caller makes sure the application sends nothing meanwhile.
func (b *Bridge) hangUp(ctx context.Context) error {
	guard := b.cfg.EscapeGuard
	b.log.Info("ending the data-mode call (+++, ATH)")
	select {
	case <-time.After(guard + guard/5):
	case <-ctx.Done():
		return ctx.Err()
	}
	// "+++" has no CR: send it raw, as the escape, and wait for its OK.
	if _, err := b.command(ctx, commandSpec{line: "+++", name: "+++ escape", framed: true, raw: true,
		timeout: 2*guard + b.cfg.ProbeTimeout}); err != nil {
		return err
	}
	b.mu.Lock()
	b.stream.data, b.stream.escape, b.stream.inFlight = false, false, false
	b.mu.Unlock()
	_, err := b.command(ctx, commandSpec{line: "ATH", framed: true, timeout: b.cfg.CommandTimeout})
	return err
}
