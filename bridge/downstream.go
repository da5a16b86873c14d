package bridge

import (
	"errors"
	"time"

	"github.com/c2cbridge/c2cbridge/counters"
	c2c "github.com/c2cbridge/c2cbridge/crypto"
)

// timeout is implemented by deadline errors (os.ErrDeadlineExceeded and
// net errors).
type timeout interface{ Timeout() bool }

func isTimeout(err error) bool {
	var t timeout
	return errors.As(err, &t) && t.Timeout()
}

// downstream reads the modem until it fails or is stopped. It is the only
// reader of the modem and the only user of the opener.
func (b *Bridge) downstream(conn ModemConn, done chan struct{}) {
	defer close(done)
	buf := make([]byte, readSize)
	for {
		b.mu.Lock()
		if b.downStopped {
			b.mu.Unlock()
			return
		}
		var deadline time.Time
		if b.mode == modeFramed && b.opener.Pending() > 0 {
			deadline = time.Now().Add(b.opener.StallTimeout())
		}
		conn.SetReadDeadline(deadline)
		b.mu.Unlock()

		n, err := conn.Read(buf)
		now := time.Now()
		if n > 0 {
			b.stats.Add(counters.LineBytesDown, uint64(n))
			b.fromModem(buf[:n], now)
		}
		if err != nil {
			if isTimeout(err) {
				b.mu.Lock()
				old := b.swapOpener()
				framed, o := b.mode == modeFramed, b.opener
				b.mu.Unlock()
				if old != nil {
					old.Zero()
				}
				if framed {
					o.Poll(now, b.onFrameEvent)
				}
				continue
			}
			b.mu.Lock()
			b.downErr = err
			b.mu.Unlock()
			return
		}
	}
}

// fromModem handles bytes read from the modem in the current mode.
func (b *Bridge) fromModem(p []byte, now time.Time) {
	for len(p) > 0 {
		b.mu.Lock()
		old := b.swapOpener()
		m, o := b.mode, b.opener
		b.mu.Unlock()
		if old != nil {
			old.Zero()
		}
		if m == modePlain {
			p = p[b.fromModemPlain(p):]
			continue
		}
		o.Feed(p, now, b.onFrameEvent)
		return
	}
}

// swapOpener installs an opener made for new secrets and returns the old
// one for downstream to wipe. The caller holds mu and is downstream.
func (b *Bridge) swapOpener() *c2c.Opener {
	if b.nextOpener == nil {
		return nil
	}
	old := b.opener
	b.opener, b.nextOpener = b.nextOpener, nil
	return old
}

// fromModemPlain handles plain text from the module: only a command of the
// bridge's own may read it; it never reaches the application. It returns how
// many bytes it consumed (fewer than len(p) when the mode switched).
func (b *Bridge) fromModemPlain(p []byte) int {
	b.mu.Lock()
	c := b.ctl
	b.mu.Unlock()
	if c == nil || c.spec.framed {
		b.stats.Add(counters.PlainDropped, uint64(len(p)))
		return len(p)
	}
	return c.split.FeedUntil(p, func(line string) bool {
		_, done := b.commandLine(c, line)
		return done
	})
}

// onFrameEvent handles what the opener found in the module's bytes.
func (b *Bridge) onFrameEvent(ev *c2c.Event) {
	b.mu.Lock()
	m := b.mode
	b.mu.Unlock()
	if m != modeFramed {
		// The session ended inside this read: the rest is plain text.
		if ev.Kind == c2c.Stray {
			for p := ev.Data; len(p) > 0; {
				p = p[b.fromModemPlain(p):]
			}
		}
		return
	}
	switch ev.Kind {
	case c2c.Plaintext:
		b.mu.Lock()
		replayed := b.replay.seen(&ev.IV)
		b.mu.Unlock()
		if replayed {
			b.stats.Inc(counters.Replays)
			b.log.Debug("dropped a replayed frame")
			return
		}
		b.stats.Inc(counters.FramesDown)
		b.lastRx.Store(time.Now().UnixNano())
		b.deliver(ev.Data)
	case c2c.Rejected:
		b.stats.Inc(rejectCounter(ev.Err))
		b.log.Debug("dropped a frame", "reason", ev.Err)
	case c2c.Stray:
		b.stats.Add(counters.StrayBytes, uint64(ev.Size))
		b.noticeStray(ev.Data)
	}
}

// noticeStray looks at bytes outside frames during a session: a whole line
// of printable text (a rebooted module prints RDY in plain text) makes the
// control loop check the session. The bytes themselves go nowhere.
func (b *Bridge) noticeStray(p []byte) {
	text := false
	b.strayLines.Feed(p, func(line string) {
		if len(line) >= 2 && printable(line) {
			text = true
		}
	})
	if text {
		b.signal(b.suspect)
	}
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// signal wakes the control loop without blocking.
func (b *Bridge) signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// deliver hands authentic plaintext to the command in flight (its answer)
// and to the application (everything else).
func (b *Bridge) deliver(p []byte) {
	b.mu.Lock()
	c := b.ctl
	b.mu.Unlock()
	if c != nil && c.spec.framed {
		var urc []byte
		c.split.Feed(p, func(line string) {
			if mine, _ := b.commandLine(c, line); !mine {
				urc = append(urc, "\r\n"+line+"\r\n"...)
			}
		})
		if len(urc) > 0 {
			b.toApp(urc)
		}
		return
	}
	b.toApp(p)
}

// toApp writes plaintext to the application and follows the AT stream.
func (b *Bridge) toApp(p []byte) {
	b.mu.Lock()
	data := b.stream.data
	b.stream.fromModule(p)
	b.mu.Unlock()
	if !data && b.trace.Load() {
		b.traceDown.Feed(p, func(line string) { b.traceLine("module>app", line) })
	}
	b.stats.Add(counters.AppBytesDown, uint64(len(p)))
	if _, err := b.app.Write(p); err != nil {
		b.log.Debug("write to the application", "err", err)
	}
}
