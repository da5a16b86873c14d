package bridge

import (
	"bytes"
	"github.com/c2cbridge/c2cbridge/counters"
	"strings"
	"time"
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
		for len(b.held) >= maxHeld && !b.upStopped {
			b.cond.Wait()
		}
		stop := b.upStopped
		if !stop {
			// Under mu, so Run's stop deadline cannot be overwritten.
			var deadline time.Time
			if len(out) > 0 {
				deadline = b.sendAt()
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
		if n > 0 {
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
	return time.Unix(0, b.lineFree.Load()).Add(-paceLead)
}

// take follows the application's AT stream through p and appends to out
// what may go to the module; refused commands are answered here.
func (b *Bridge) take(p, out []byte) []byte {
	b.mu.Lock()
	lines := !b.stream.data && !b.stream.prompt
	start := len(out)
	out, refused := b.stream.fromApp(p, out, time.Now())
	b.mu.Unlock()
	if lines && b.trace.Load() {
		for _, l := range strings.FieldsFunc(string(out[start:]), func(r rune) bool { return r == '\r' || r == '\n' }) {
			b.traceLine("app>module", l)
		}
	}
	for range refused {
		b.stats.Inc(counters.RefusedCommands)
		b.log.Warn("refused an application command containing +USECC2C: only the bridge opens, closes or rekeys the secure channel")
		b.replyApp("ERROR")
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
	if b.hold || !b.up {
		b.held = append(b.held, out...)
		b.mu.Unlock()
		return out[:0]
	}
	b.mu.Unlock()
	if err := b.sealAndWrite(out); err != nil {
		// Keep the bytes for the next connection (frames cut short on the
		// line are dropped by the module) and make downstream notice.
		b.log.Warn("sending to the module failed; holding input until it is back", "err", err)
		b.mu.Lock()
		b.held = append(bytes.Clone(out), b.held...)
		b.up = false
		b.mu.Unlock()
		b.modem.Close()
		return out[:0]
	}
	b.stats.Add(counters.AppBytesUp, uint64(len(out)))
	b.lastTx.Store(time.Now().UnixNano())
	return out[:0]
}
