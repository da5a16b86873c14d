package modemsim

import (
	"errors"
	"time"

	c2c "github.com/c2cbridge/c2cbridge/crypto"
)

// The input path. Bytes from the line go to the session's Opener while a
// session is open, else straight to the AT interpreter; the plaintext of
// authentic frames goes to the AT interpreter too. The interpreter stops
// early when a command changes the session (the rest of the bytes then
// take the new path) or keeps the module busy (the rest waits in held).
// Every function here runs with m.mu held.

// receive takes bytes read from the line at time now.
func (m *Module) receive(p []byte, now time.Time) {
	m.stats.BytesIn += uint64(len(p))
	p = m.faults.input(p, &m.stats)
	m.rawInput(p, now)
	m.flush()
}

// rawInput takes line bytes.
func (m *Module) rawInput(p []byte, now time.Time) {
	for len(p) > 0 {
		switch {
		case m.down:
			m.stats.InputIgnored += uint64(len(p))
			return
		case m.sess != nil:
			m.sessionInput(p, now)
			return
		case m.busy:
			m.hold(p)
			return
		}
		p = p[m.atInput(p, now):]
	}
}

// sessionInput feeds line bytes to the session's Opener.
func (m *Module) sessionInput(p []byte, now time.Time) {
	s := m.sess
	prev := m.feeding
	m.feeding = s
	s.opener.Feed(p, now, func(ev *c2c.Event) {
		switch ev.Kind {
		case c2c.Plaintext:
			if m.sess != s {
				// The session ended earlier in this read: to the module
				// in plain mode this frame is noise.
				m.stats.LateFrames++
				return
			}
			m.stats.FramesIn++
			m.sessionPlain(ev.Data, now)
		case c2c.Rejected:
			if m.sess != s {
				return
			}
			switch {
			case errors.Is(ev.Err, c2c.ErrMAC):
				m.stats.MACFailures++
			case errors.Is(ev.Err, c2c.ErrFCS):
				m.stats.FCSFailures++
			default:
				m.stats.OtherRejects++
			}
		case c2c.Stray:
			if m.sess == s {
				m.stats.PlainBytesInSession += uint64(len(ev.Data))
				return
			}
			// Plain text after the session ended in this read.
			m.rawInput(ev.Data, now)
		}
	})
	m.feeding = prev
	if m.sess != s {
		s.zero()
	}
}

// sessionPlain takes the plaintext of an authentic host frame.
func (m *Module) sessionPlain(p []byte, now time.Time) {
	s := m.sess
	for len(p) > 0 {
		switch {
		case m.sess != s:
			// A command earlier in this frame ended the session: the
			// rest of it is authentic, take it as plain input.
			m.rawInput(p, now)
			return
		case m.down:
			m.stats.InputIgnored += uint64(len(p))
			return
		case m.busy:
			m.hold(p)
			return
		}
		p = p[m.atInput(p, now):]
	}
}

// hold keeps input that arrives while a command is in progress.
func (m *Module) hold(p []byte) {
	n := min(len(p), maxHeld-len(m.held))
	m.held = append(m.held, p[:n]...)
	m.stats.InputIgnored += uint64(len(p) - n)
}

// endBusy ends the command in progress and runs the input held meanwhile.
// The session cannot change while busy (a reboot clears held), so held
// bytes are plaintext in a session and line bytes outside one.
func (m *Module) endBusy(now time.Time) {
	m.busy = false
	held := m.held
	m.held = nil
	if m.sess != nil {
		m.sessionPlain(held, now)
	} else {
		m.rawInput(held, now)
	}
}

// atInput interprets AT input and returns how many bytes it took: all of
// them, unless a command line changed the session, made the module busy
// or rebooted it.
func (m *Module) atInput(p []byte, now time.Time) int {
	s := m.sess
	for i := 0; i < len(p); i++ {
		if m.dataMode {
			m.dataInput(p[i:], now)
			return len(p)
		}
		if m.sms.cmd != "" {
			i += m.smsInput(p[i:])
			if i >= len(p) {
				return len(p)
			}
		}
		b := p[i]
		if m.echo {
			m.stage = append(m.stage, b)
		}
		switch {
		case b == m.s3, b == '/' && m.repeatNow():
			line := string(m.line)
			over := m.lineOver
			m.line = m.line[:0]
			m.lineOver = false
			if b != m.s3 {
				line, over = m.lastLine, false // A/
			}
			m.execLine(line, over, now)
			if m.sess != s || m.busy || m.down {
				return i + 1
			}
		case b == m.s5, !m.lineEdit && (b == '\b' || b == 0x7F):
			if len(m.line) > 0 {
				m.line = m.line[:len(m.line)-1]
			}
		case b == '\n', m.lineEdit && (b < 0x20 || b == 0x7F):
			// Ignored.
		default:
			if len(m.line) < maxLine {
				m.line = append(m.line, b)
			} else {
				m.lineOver = true
			}
		}
	}
	return len(p)
}

// repeatNow reports whether a '/' arriving now makes "A/": the line so far
// ends in 'A' or 'a' and has no "AT" before it. m.mu held.
func (m *Module) repeatNow() bool {
	n := len(m.line)
	return m.repeat && n > 0 && m.line[n-1]|0x20 == 'a' && indexAT(string(m.line[:n-1])) < 0
}

// plusses are the '+' of an escape that turn out to be data.
var plusses = []byte("+++")

// dataInput takes data-mode bytes, all arriving at time now: it loops them
// back (or passes them to the network), except a "+++" escape (see the
// package documentation). Only the
// first byte of a read can follow a quiet time; the others follow it at
// once.
func (m *Module) dataInput(p []byte, now time.Time) {
	gap := now.Sub(m.lastData)
	m.lastData = now
	m.stopTimer(m.escTimer)
	m.escTimer = nil
	for i := 0; i < len(p); i++ {
		b := p[i]
		g := gap
		if i > 0 {
			g = 0
		}
		if m.plus > 0 {
			if b == '+' && m.plus < 3 && g < m.guard {
				m.plus++
				continue
			}
			m.callData(plusses[:m.plus])
			m.plus = 0
		}
		if b == '+' && g >= m.guard {
			m.plus = 1
			continue
		}
		// No byte after this one can start an escape: pass on the rest.
		m.callData(p[i:])
		break
	}
	if m.plus > 0 {
		epoch := m.epoch
		m.escTimer = m.after(m.guard, func() {
			m.escTimer = nil
			if m.epoch != epoch || !m.dataMode || m.plus == 0 {
				return
			}
			if m.plus < 3 {
				// Too few to escape: they were data.
				m.callData(plusses[:m.plus])
				m.plus = 0
				return
			}
			m.plus = 0
			m.dataMode = false
			m.stats.Escapes++
			m.event("escape")
			m.emitLine("OK")
		})
	}
}

// enterDataMode starts (or resumes) a call's data mode. now is the time of
// the CONNECT: the guard before an escape counts from it.
func (m *Module) enterDataMode(now time.Time) {
	m.dataMode = true
	m.callUp = true
	m.plus = 0
	m.lastData = now
}

// leaveDataMode ends data mode, dropping a half-seen escape.
func (m *Module) leaveDataMode() {
	m.dataMode = false
	m.plus = 0
	m.stopTimer(m.escTimer)
	m.escTimer = nil
}
