package bridge

import (
	"bytes"
	"time"

	"github.com/c2cbridge/c2cbridge/at"
)

// streamState follows the application's AT stream without changing it, so
// the bridge knows when it may inject a command of its own: in command mode
// a command line is in flight from its CR until its final result code
// (prompts included); data mode runs from CONNECT until NO CARRIER or the
// +++ escape and its OK.
type streamState struct {
	data     bool      // data mode
	inFlight bool      // an application command awaits its final result
	prompt   bool      // "> " or "@" prompt: raw input until the final result
	sent     time.Time // when the command in flight went out
	escape   bool      // the application sent +++ in data mode
	line     []byte    // command line typed so far, not yet sent
}

var (
	usecc2c   = []byte("+USECC2C")
	noCarrier = []byte("\r\n" + at.NoCarrier + "\r\n")
	okLine    = []byte("\r\n" + at.OK + "\r\n")
)

// fromApp takes application bytes and appends to out what may go to the
// module. In command mode it passes whole command lines (up to their CR),
// and drops lines that contain +USECC2C, counting them in refused.
func (s *streamState) fromApp(p, out []byte, now time.Time) (_ []byte, refused int) {
	if s.data || s.prompt {
		if s.data && string(p) == "+++" {
			s.escape = true
		}
		return append(out, p...), 0
	}
	for _, c := range p {
		switch {
		case c == '\r':
			if containsFold(s.line, usecc2c) {
				refused++
			} else {
				out = append(out, s.line...)
				out = append(out, c)
				s.inFlight, s.sent = true, now
			}
			s.line = s.line[:0]
		case c == '\n' && len(s.line) == 0:
			out = append(out, c)
		default:
			s.line = append(s.line, c)
			// A/ repeats the last command at once; an overlong line is not
			// a command we could recognise: pass both through.
			if len(s.line) >= at.MaxLine || (len(s.line) == 2 && (s.line[0]|0x20) == 'a' && s.line[1] == '/') {
				out = append(out, s.line...)
				s.inFlight, s.sent = true, now
				s.line = s.line[:0]
			}
		}
	}
	return out, refused
}

// fromModuleData follows the module's authentic output during a call:
// data bytes are not lines, so it looks only for what ends data mode (the
// module sends it as one piece).
func (s *streamState) fromModuleData(p []byte) {
	if bytes.Contains(p, noCarrier) || (s.escape && bytes.Contains(p, okLine)) {
		s.data, s.escape, s.inFlight, s.prompt = false, false, false, false
	}
}

// fromModuleLine follows one line of the module's authentic output in
// command mode.
func (s *streamState) fromModuleLine(line string) {
	switch {
	case s.data:
		// CONNECT came earlier in the same piece: the rest is call data.
	case at.IsConnect(line):
		s.data, s.inFlight, s.prompt = true, false, false
	case at.IsFinal(line):
		s.inFlight, s.prompt = false, false
	case at.IsPrompt(line):
		s.prompt = true
	}
}

// idle reports whether the bridge may inject a command now: command mode,
// no application command in flight (one older than stale is taken as lost)
// and no partial command line typed.
func (s *streamState) idle(now time.Time, stale time.Duration) bool {
	if s.data || len(s.line) > 0 {
		return false
	}
	if s.inFlight || s.prompt {
		return stale > 0 && now.Sub(s.sent) > stale
	}
	return true
}
