package bridge

import (
	"bytes"
	"time"

	"github.com/c2cbridge/c2cbridge/at"
	"github.com/c2cbridge/c2cbridge/usec"
)

// This file hands the module's authentic plaintext on: to the command of
// the bridge's own in flight, to the stream tracker and the trace, and to
// the application. It is also the last line of defence of the secure
// channel's secrets: no line that holds +USECC2C ever reaches the
// application, in any mode, whatever the bridge thinks the module is
// doing (docs/protocol.md, "Threat model").

// usecMark is what a line of the security dialogue holds, in any case.
var usecMark = []byte("+USECC2C")

// holdbackWait is how long data mode holds back the tail of a read that
// could begin a +USECC2C line, when no more bytes come.
const holdbackWait = 50 * time.Millisecond

// deliver hands authentic plaintext on. In command mode it splits it into
// lines as it goes: a line is written to the application, as the module
// sent it, only once it is complete (a prompt, which ends without a line
// break, at once), so a +USECC2C line can be dropped whole; with a command
// of the bridge's own in flight, the command takes its answer and the
// other lines go to the application one by one. In data mode the bytes go
// to the application as they are, but for a +USECC2C line in them.
func (b *Bridge) deliver(p []byte) {
	d := &b.down
	out := d.out[:0] // queueApp copies: the buffer is reused, no allocation per frame
	for len(p) > 0 {
		b.mu.Lock()
		c := b.ctl
		if c != nil && !c.spec.framed {
			c = nil
		}
		data := c == nil && b.stream.data
		b.mu.Unlock()
		if data {
			out = b.callData(p, out)
			break
		}
		i := 0
		for ; i < len(p); i++ {
			ch := p[i]
			if ch == '\r' || ch == '\n' {
				if len(d.line) > 0 {
					out = b.moduleLine(c, out)
				}
				if c != nil {
					continue // lines go one by one while the bridge's command is in flight
				}
				out = append(out, ch)
				if b.inDataMode() {
					i++
					break // CONNECT: the rest is call data
				}
				continue
			}
			d.line = append(d.line, ch)
			if len(d.line) <= 2 && b.isPrompt(d.line) || len(d.line) >= at.MaxLine {
				out = b.moduleLine(c, out)
			}
		}
		p = p[i:]
	}
	if len(out) > 0 {
		b.toApp(out)
	}
	d.out = out[:0]
}

// isPrompt reports whether the module's unended line is a prompt.
func (b *Bridge) isPrompt(line []byte) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stream.isPrompt(string(line))
}

// moduleLine handles the completed line in d.line: c, the bridge's
// command in flight when the read began (or nil), takes it if it is its
// answer; the stream tracker and the trace see it; unless it is a
// +USECC2C line it is appended to out, as it came or (with c) as a line of
// its own.
func (b *Bridge) moduleLine(c *command, out []byte) []byte {
	d := &b.down
	raw := d.line
	line := string(raw)
	d.line = raw[:0]
	if c != nil {
		if mine, _ := b.commandLine(c, line); mine {
			return out
		}
	}
	if containsFold(raw, usecMark) {
		b.unsolicitedSecurityLine(line)
		return out
	}
	b.mu.Lock()
	b.stream.fromModuleLine(line, time.Now())
	b.mu.Unlock()
	b.traceLine("module>app", line)
	if c != nil {
		return append(append(append(out, "\r\n"...), raw...), "\r\n"...)
	}
	return append(out, raw...)
}

// callData handles plaintext in data mode: appended to out as it is, but
// for a +USECC2C line, which is dropped (call data can hold one, so it
// does not end data mode; if the module printed it, the keys it may carry
// are adopted), and for a tail that could begin one, held back until the
// next read or holdbackWait.
func (b *Bridge) callData(p, out []byte) []byte {
	d := &b.down
	if len(d.held) > 0 {
		p = append(d.held, p...)
		d.held = nil
	}
	b.mu.Lock()
	carrierText := b.stream.fromModuleData(p, time.Now())
	b.mu.Unlock()
	if carrierText {
		b.checkCarrier()
	}
	for {
		i := indexFold(p, usecMark)
		if i < 0 {
			break
		}
		out = append(out, p[:i]...)
		end := bytes.IndexAny(p[i:], "\r\n")
		if end < 0 {
			end = len(p) - i
		}
		b.unsolicitedSecurityLine(string(p[i : i+end]))
		p = p[i+end:]
	}
	if k := markPrefixTail(p); k > 0 {
		d.held = append(d.held[:0], p[len(p)-k:]...)
		p = p[:len(p)-k]
	}
	return append(out, p...)
}

// checkCarrier ends data mode when the DCD line is off, with Config.DCD.
func (b *Bridge) checkCarrier() {
	if !b.cfg.DCD {
		return
	}
	cd, ok := b.currentLink().conn.(CarrierDetector)
	if !ok {
		return
	}
	if on, err := cd.CarrierDetect(); err == nil && !on {
		b.mu.Lock()
		b.stream.endCall()
		b.mu.Unlock()
	}
}

// flushHeldData writes what data mode held back, once no more bytes came.
func (b *Bridge) flushHeldData() {
	d := &b.down
	if len(d.held) > 0 {
		held := d.held
		d.held = nil
		b.toApp(held)
	}
}

// markPrefixTail returns the length of the longest tail of p that is a
// proper prefix of usecMark, in any case.
func markPrefixTail(p []byte) int {
	for k := min(len(usecMark)-1, len(p)); k > 0; k-- {
		if bytes.EqualFold(p[len(p)-k:], usecMark[:k]) {
			return k
		}
	}
	return 0
}

// unsolicitedSecurityLine handles a +USECC2C line the bridge did not ask
// for. It never reaches the application. If it is the answer of a rekey
// with new secrets (the module ran AT+USECC2C=3 that did not come from
// the bridge), the bridge adopts them rather than lose the module.
func (b *Bridge) unsolicitedSecurityLine(line string) {
	b.log.Warn("dropped a +USECC2C line from the module that answers no command of the bridge's")
	if !usec.IsAnswer(line) {
		return
	}
	if _, ok := usec.FindAnswer(usec.OpRekey, []string{line}); !ok {
		return
	}
	b.mu.Lock()
	te := b.keys.secrets.TESecret
	b.mu.Unlock()
	next, err := usec.ParseRekeyAnswer(line, &te)
	te.Zero()
	if err != nil {
		return // a rekey that issued no secrets: the session check follows
	}
	b.ctrl.events.adoptSecrets(next)
}

// containsFold reports whether s contains sub, ignoring ASCII case.
func containsFold(s, sub []byte) bool { return indexFold(s, sub) >= 0 }

// indexFold returns the index of the first sub in s, ignoring ASCII case,
// or -1. sub must begin with a byte that has no case ('+'): the scan
// jumps from one to the next, which keeps data mode fast.
func indexFold(s, sub []byte) int {
	for i := 0; i+len(sub) <= len(s); {
		j := bytes.IndexByte(s[i:len(s)-len(sub)+1], sub[0])
		if j < 0 {
			return -1
		}
		i += j
		if bytes.EqualFold(s[i:i+len(sub)], sub) {
			return i
		}
		i++
	}
	return -1
}
