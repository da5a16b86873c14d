package bridge

import (
	"errors"
	"os"
	"time"

	"github.com/c2cbridge/c2cbridge/at"
	"github.com/c2cbridge/c2cbridge/counters"
	c2c "github.com/c2cbridge/c2cbridge/crypto"
)

// downstream is the state only the downstream goroutine uses. Links run
// one downstream at a time: a new one starts only after the old one ended.
type downstream struct {
	// feeding is the key generation whose opener downstream feeds; when
	// the control loop swaps generations, downstream wipes the old opener.
	feeding *keys
	// line holds the authentic plaintext of the module's current line in
	// command mode, and held what data mode holds back (see deliver.go).
	line []byte
	held []byte
	// out gathers what one read gives the application (deliver).
	out []byte
	// plainLines splits what is not authentic plaintext: the module's
	// plain text between sessions, and stray bytes inside one.
	plainLines at.LineSplitter
}

// retire wipes the opener downstream fed before, if cur replaced it, and
// moves on to cur. Called with mu held.
func (d *downstream) retire(cur *keys) {
	if d.feeding != nil && d.feeding != cur {
		d.feeding.opener.Zero()
	}
	d.feeding = cur
}

// isTimeout reports whether err is a read deadline passing, as ModemConn
// and App report it.
func isTimeout(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }

// downstream reads the link's connection until it fails or is stopped. It
// is the only reader of the modem and the only user of the opener.
func (b *Bridge) downstream(l *link) {
	defer close(l.done)
	buf := make([]byte, readSize)
	for {
		b.mu.Lock()
		k := b.current()
		var deadline time.Time
		if b.mode == modeFramed && k.opener.Pending() > 0 {
			deadline = time.Now().Add(k.opener.StallTimeout())
		}
		if len(b.down.held) > 0 {
			deadline = minTime(orNever(deadline), time.Now().Add(holdbackWait))
		}
		if c := b.stream.carrierAt(); !c.IsZero() {
			deadline = minTime(orNever(deadline), c)
		}
		b.mu.Unlock()
		if !l.armRead(deadline) {
			return
		}
		n, err := l.conn.Read(buf)
		now := time.Now()
		if n > 0 {
			b.stats.Add(counters.LineBytesDown, uint64(n))
			b.fromModem(buf[:n], now)
		}
		b.mu.Lock()
		b.stream.carrierLost(now)
		b.mu.Unlock()
		if err == nil {
			continue
		}
		if isTimeout(err) {
			b.mu.Lock()
			framed, o := b.mode == modeFramed, b.current().opener
			b.mu.Unlock()
			if framed {
				o.Poll(now, b.onFrameEvent)
			}
			b.flushHeldData()
			continue
		}
		l.fail(err)
		return
	}
}

// orNever returns t, or a time far away for the zero time.
func orNever(t time.Time) time.Time {
	if t.IsZero() {
		return time.Now().Add(time.Hour)
	}
	return t
}

// current returns the current key generation for downstream, wiping the
// opener of one it replaced. The caller holds mu and is downstream.
func (b *Bridge) current() *keys {
	b.down.retire(b.keys)
	return b.keys
}

// fromModem handles bytes read from the modem in the current mode.
func (b *Bridge) fromModem(p []byte, now time.Time) {
	for len(p) > 0 {
		b.mu.Lock()
		m, o := b.mode, b.current().opener
		b.mu.Unlock()
		if m == modePlain {
			p = p[b.fromModemPlain(p):]
			continue
		}
		o.Feed(p, now, b.onFrameEvent)
		return
	}
}

// fromModemPlain handles plain text from the module: only a plain command
// of the bridge's own may read it; it never reaches the application. It
// returns how many bytes it consumed (fewer than len(p) when the mode
// switched).
func (b *Bridge) fromModemPlain(p []byte) int {
	b.mu.Lock()
	c := b.ctl
	b.mu.Unlock()
	if c == nil || c.spec.framed {
		b.stats.Add(counters.PlainDropped, uint64(len(p)))
		return len(p)
	}
	return b.down.plainLines.FeedUntil(p, func(line string) bool {
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
		replayed := b.current().replay.seen(&ev.IV)
		b.mu.Unlock()
		if replayed {
			b.stats.Inc(counters.Replays)
			b.log.Debug("dropped a replayed frame")
			return
		}
		b.stats.Inc(counters.FramesDown)
		b.act.lastRx.Store(time.Now().UnixNano())
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
	b.down.plainLines.Feed(p, func(line string) {
		if len(line) >= 2 && printable(line) {
			text = true
		}
	})
	if text {
		b.ctrl.events.signal(b.ctrl.events.suspect)
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

// toApp queues authentic plaintext for the application.
func (b *Bridge) toApp(p []byte) {
	b.queueApp(p)
	b.checkRekeyBytes()
}
