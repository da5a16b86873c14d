package bridge

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/c2cbridge/c2cbridge/at"
	"github.com/c2cbridge/c2cbridge/counters"
	c2c "github.com/c2cbridge/c2cbridge/crypto"
)

// Pacing of upstream frames (Config.PaceBaud).
const (
	// maxBatch bounds the application bytes gathered for one write while
	// the line is busy: about 0.7 s of a 115200 baud line.
	maxBatch = 8 << 10
	// paceLead is how long before the line runs idle the next batch goes
	// out, so the UART never waits for the bridge.
	paceLead = 2 * time.Millisecond
)

// upstream reads the application and sends its bytes to the module, until
// Run stops it. It stops reading while the held input is full. With pacing,
// bytes that arrive while the line is still busy with earlier frames are
// gathered and sent together just before the line runs idle: a storm of
// small writes then costs full frames, not a frame each.
func (b *Bridge) upstream() {
	buf := make([]byte, readSize)
	var out []byte
	for {
		b.mu.Lock()
		for len(b.in.held) >= maxHeld && !b.in.stopped {
			b.in.cond.Wait()
		}
		stop := b.in.stopped
		if !stop {
			// Under mu, so Run's stop deadline cannot be overwritten.
			var deadline time.Time
			if len(out) > 0 {
				deadline = b.sendAt()
			}
			if w := b.stream.wakeAt(time.Now()); !w.IsZero() {
				deadline = minTime(orNever(deadline), w)
			}
			b.app.SetReadDeadline(deadline)
		}
		b.mu.Unlock()
		if stop {
			b.send(out)
			return
		}
		if len(out) >= maxBatch {
			time.Sleep(time.Until(b.sendAt()))
			out = b.send(out)
			continue
		}
		n, err := b.app.Read(buf)
		if n > 0 || b.holdsInput() {
			out = b.take(buf[:n], out)
		}
		if err != nil && !isTimeout(err) {
			b.log.Warn("reading the application side failed; no more input is taken", "err", err)
			b.send(out)
			return
		}
		if len(out) > 0 && !time.Now().Before(b.sendAt()) {
			out = b.send(out)
		}
	}
}

// sendAt returns when gathered bytes should go out: at once without
// pacing or on an idle line, else just before the line runs idle.
func (b *Bridge) sendAt() time.Time {
	if b.cfg.PaceBaud <= 0 {
		return time.Time{}
	}
	return time.Unix(0, b.act.lineFree.Load()).Add(-paceLead)
}

// holdsInput reports whether the stream tracker holds application bytes
// for the module's answer.
func (b *Bridge) holdsInput() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.stream.held) > 0 || b.stream.escape
}

// take follows the application's AT stream through p (and what it held
// before) and appends to out what may go to the module; refused command
// lines are answered ERROR here, logged and counted.
func (b *Bridge) take(p, out []byte) []byte {
	var res appResult
	now := time.Now()
	b.mu.Lock()
	out = b.stream.fromApp(p, out, now, &res)
	stalled := b.stream.escapeStalled(now)
	b.mu.Unlock()
	if stalled {
		b.ctrl.events.signal(b.ctrl.events.escape)
	}
	for _, l := range res.lines {
		b.traceLine("app>module", l)
	}
	for _, err := range res.refused {
		b.stats.Inc(counters.RefusedCommands)
		var re *at.RefusedError
		if errors.As(err, &re) && re.Command == at.SecurityCommand {
			b.log.Warn("refused an application command containing +USECC2C: only the bridge opens, closes or rekeys the secure channel")
		} else {
			b.log.Warn("refused an application command: it would change how the module talks to the bridge, or cannot be checked", "why", err)
		}
		b.replyApp(at.Error)
	}
	return out
}

// send seals out into frames and writes them, or holds them while the
// session is busy or down. It returns out emptied for reuse.
func (b *Bridge) send(out []byte) []byte {
	if len(out) == 0 {
		return out
	}
	b.wmu.Lock()
	defer b.wmu.Unlock()
	b.mu.Lock()
	l := b.link
	if b.in.hold || b.phase.state != StateOpen || l.failed() {
		b.in.held = append(b.in.held, out...)
		b.mu.Unlock()
		return out[:0]
	}
	b.mu.Unlock()
	if err := b.sealAndWrite(out); err != nil {
		// Keep the bytes for the next connection (frames cut short on the
		// line are dropped by the module); the link's failure makes the
		// control loop reconnect.
		b.log.Warn("sending to the module failed; holding input until it is back", "err", err)
		b.mu.Lock()
		b.in.held = append(b.in.held, out...)
		b.mu.Unlock()
		return out[:0]
	}
	b.stats.Add(counters.AppBytesUp, uint64(len(out)))
	b.checkRekeyBytes()
	b.act.lastTx.Store(time.Now().UnixNano())
	return out[:0]
}

// input is the application input between upstream and the module: held
// while the control loop has a command of its own in flight or the session
// is not open, flowing otherwise. Guarded by mu.
type input struct {
	hold    bool       // the control loop holds input (tryHold, holdNow; flushHeld releases)
	held    []byte     // application bytes taken but not yet sent
	stopped bool       // Run stops upstream
	cond    *sync.Cond // signalled when held shrinks or stopped is set
}

// tryHold holds application input if the session is open and the AT
// stream is idle in command mode right now, and reports whether it did.
func (b *Bridge) tryHold() bool {
	b.wmu.Lock()
	defer b.wmu.Unlock()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.phase.state != StateOpen || b.in.hold || !b.stream.idle(time.Now(), b.cfg.CommandTimeout) {
		return false
	}
	b.in.hold = true
	return true
}

// streamIdle reports whether the application's AT stream is at an idle
// point (no command in flight, no partial line, not in a call).
func (b *Bridge) streamIdle() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stream.idle(time.Now(), b.cfg.CommandTimeout)
}

// holdNow holds application input whatever the stream is doing (the
// module is gone or rebooted: a command in flight will not be answered).
func (b *Bridge) holdNow() {
	b.wmu.Lock()
	b.mu.Lock()
	b.in.hold = true
	b.mu.Unlock()
	b.wmu.Unlock()
}

// flushHeld sends the application input held while the session was busy,
// then lets upstream send directly again.
func (b *Bridge) flushHeld() error {
	b.wmu.Lock()
	defer b.wmu.Unlock()
	b.mu.Lock()
	held := b.in.held
	b.in.held = nil
	b.mu.Unlock()
	var err error
	if len(held) > 0 {
		err = b.sealAndWrite(held)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if err != nil {
		b.in.held = append(held, b.in.held...)
		return err
	}
	b.stats.Add(counters.AppBytesUp, uint64(len(held)))
	b.in.hold = false
	b.in.cond.Broadcast()
	return nil
}

// releaseHold lets application input flow again after a command of the
// bridge's own.
func (b *Bridge) releaseHold() {
	if err := b.flushHeld(); err != nil {
		b.log.Warn("sending held input", "err", err)
	}
}

// writeModem writes p to the current link; the caller holds wmu. A failed
// write fails the link.
func (b *Bridge) writeModem(p []byte) error {
	if b.cfg.PaceBaud > 0 {
		now := time.Now().UnixNano()
		busy := int64(len(p)) * int64(10*time.Second) / int64(b.cfg.PaceBaud)
		b.act.lineFree.Store(max(b.act.lineFree.Load(), now) + busy)
	}
	b.mu.Lock()
	l := b.link
	b.mu.Unlock()
	if _, err := l.conn.Write(p); err != nil {
		err = fmt.Errorf("%w: write: %v", ErrModemLost, err)
		l.fail(err)
		return err
	}
	b.stats.Add(counters.LineBytesUp, uint64(len(p)))
	return nil
}

// sealAndWrite seals p into frames with the current keys and writes them
// in one write; the caller holds wmu.
func (b *Bridge) sealAndWrite(p []byte) error {
	b.mu.Lock()
	sealer := b.keys.sealer
	b.mu.Unlock()
	var err error
	b.wbuf, err = sealer.Seal(b.wbuf[:0], p)
	if err != nil {
		return err
	}
	b.stats.Add(counters.FramesUp, uint64((len(p)+c2c.MaxHostPlaintext-1)/c2c.MaxHostPlaintext))
	return b.writeModem(b.wbuf)
}
