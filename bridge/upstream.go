package bridge

import (
	"bytes"
	"strings"
	"time"
)

// upstream reads the application and sends its bytes to the module, until
// Run stops it. It stops reading while the held input is full.
func (b *Bridge) upstream() {
	buf := make([]byte, readSize)
	var out []byte
	for {
		b.mu.Lock()
		for len(b.held) >= maxHeld && !b.upStopped {
			b.cond.Wait()
		}
		stop := b.upStopped
		b.mu.Unlock()
		if stop {
			return
		}
		n, err := b.app.Read(buf)
		if n > 0 {
			out = b.fromApp(buf[:n], out[:0])
		}
		if err != nil {
			if isTimeout(err) {
				continue
			}
			b.log.Warn("reading the application side failed; no more input is taken", "err", err)
			return
		}
	}
}

// fromApp sends (or holds) what the application wrote; out is scratch space
// returned for reuse.
func (b *Bridge) fromApp(p, out []byte) []byte {
	b.mu.Lock()
	lines := !b.stream.data && !b.stream.prompt
	out, refused := b.stream.fromApp(p, out, time.Now())
	b.mu.Unlock()
	if lines && b.trace.Load() {
		for _, l := range strings.FieldsFunc(string(out), func(r rune) bool { return r == '\r' || r == '\n' }) {
			b.traceLine("app>module", l)
		}
	}
	for range refused {
		b.stats.refused.Add(1)
		b.log.Warn("refused an application command containing +USECC2C: only the bridge opens, closes or rekeys the secure channel")
		b.replyApp("ERROR")
	}
	if len(out) == 0 {
		return out
	}
	b.wmu.Lock()
	defer b.wmu.Unlock()
	b.mu.Lock()
	if b.hold || !b.up {
		b.held = append(b.held, out...)
		b.mu.Unlock()
		return out
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
		return out
	}
	b.stats.appBytesUp.Add(uint64(len(out)))
	b.lastTx.Store(time.Now().UnixNano())
	return out
}
