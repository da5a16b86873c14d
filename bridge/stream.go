package bridge

import (
	"bytes"
	"errors"
	"strings"
	"time"

	"github.com/c2cbridge/c2cbridge/at"
)

// This file follows the application's AT stream, which the bridge does
// not trust (docs/protocol.md, "Threat model"). Its principle: the module
// executes exactly what the bridge checked, and the bridge's idea of the
// module's state comes from the module's answers to what the bridge
// forwarded.
//
//   - Command mode: the bridge assembles each command line itself, as the
//     module's line editing would (at.LineEditor), checks it (at.CheckLine)
//     and forwards the checked, canonical line, or answers ERROR itself.
//   - A prompt ("> ", "@", ">") counts only after a forwarded command that
//     may produce it; its input passes as it is up to its end (Ctrl-Z or
//     ESC, or the announced byte count); the bytes after it are command
//     lines again. Until the prompt comes, application bytes are held.
//   - Data mode begins only with a CONNECT answering a forwarded ATD, ATA,
//     ATO or +CGDATA; the echo of a forwarded line is never a result.
//   - It ends with the module's OK to an escape the bridge saw byte by byte
//     (application bytes after a possible escape are held until that OK;
//     without one the bridge escapes itself and follows the answer), or
//     with the module's NO CARRIER told from
//     call data by a rule network data cannot forge in a PPP call (it
//     starts right after a 0x7E flag and no flag follows within
//     carrierQuiet), or by the DCD line (Config.CarrierDetect).

// Timings of the stream tracker.
const (
	// carrierQuiet is how long no PPP flag may follow a NO CARRIER that
	// starts right after one, for it to count as the module's.
	carrierQuiet = 100 * time.Millisecond
	// pendingPoll is how often held application bytes are looked at again
	// while they wait for the module's answer (an OK, a prompt).
	pendingPoll = 20 * time.Millisecond
	// promptWait bounds the wait for a prompt that does not come (nor a
	// result): the held input is then taken as command lines.
	promptWait = 30 * time.Second
)

// pppFlag is the byte that opens and closes every PPP frame (RFC 1662);
// inside a frame it is escaped, so network data cannot produce it.
const pppFlag = 0x7e

var (
	noCarrier = []byte("\r\n" + at.NoCarrier + "\r\n")
	okLine    = []byte("\r\n" + at.OK + "\r\n")
)

// streamState follows the application's AT stream. It is guarded by the
// Bridge's mu: upstream feeds it the application's bytes, downstream the
// module's answers, the control loop reads whether it is idle.
type streamState struct {
	guard time.Duration // the module's escape guard time (S12)
	dcd   bool          // the DCD line tells the end of a call (Config.DCD), not text

	editor    at.LineEditor
	inFlight  bool       // a forwarded command line awaits its final result
	sent      time.Time  // when it went out
	forwarded string     // its text, to tell its echo from results
	connect   bool       // it may be answered CONNECT (data mode)
	effects   at.Effects // what it changes when answered OK
	prompt    at.Prompt  // the prompt it may produce
	input     promptInput
	echo      bool // the module echoes command lines (tracked)
	cmee      int  // the module's +CMEE (tracked)

	data      bool       // a call is up: the application's bytes are call data
	esc       escapeScan // the escape, byte by byte
	escape    bool       // a possible escape was sent: waiting for the module's OK
	escEnd    time.Time  // when the wait for the OK ends
	escForced bool       // the control loop was asked to escape itself
	held      []byte     // application bytes held for the module's answer
	ppp       bool       // the call carries PPP (a flag was seen)
	lastTx    bool       // the module's last call byte was a flag
	carrier   time.Time  // a NO CARRIER right after a flag, waiting carrierQuiet
}

// promptInput is the input after a prompt.
type promptInput struct {
	active bool
	kind   at.PromptKind
	left   int // bytes still to come, for a count prompt
}

// appResult is what fromApp tells upstream besides the bytes to send.
type appResult struct {
	lines   []string // command lines forwarded (for the trace)
	refused []error  // why lines were refused (answered ERROR, logged)
}

// fromApp takes application bytes and appends to out what may go to the
// module; res says which lines went out and which were refused. Bytes
// that must wait for the module's answer are held and looked at again by
// the next call (upstream calls with p empty at wakeAt).
func (s *streamState) fromApp(p, out []byte, now time.Time, res *appResult) []byte {
	if len(s.held) > 0 {
		p = append(s.held, p...)
		s.held = nil
	}
	for len(p) > 0 {
		var n int
		switch {
		case s.data && s.escape:
			// The module's OK decides; without one by escEnd, the
			// control loop escapes itself (escapeStalled), so the module
			// is never in command mode while the bridge passes call data.
			s.held = append(s.held, p...)
			return out
		case s.data:
			n, out = s.callData(p, out, now)
		case s.input.active:
			n, out = s.promptData(p, out)
		case s.inFlight && s.prompt.Kind != at.NoPrompt && now.Sub(s.sent) < promptWait:
			// The prompt may come: input waits for it or the result.
			s.held = append(s.held, p...)
			return out
		default:
			var line at.Line
			var ok bool
			n, line, ok = s.editor.Feed(p)
			if ok {
				out = s.commandLine(line, out, now, res)
			}
		}
		p = p[n:]
	}
	return out
}

// commandLine checks one assembled line and appends it to out, or refuses it.
func (s *streamState) commandLine(l at.Line, out []byte, now time.Time, res *appResult) []byte {
	d := at.CheckLine(l)
	switch {
	case errors.Is(d.Err, at.ErrEmptyLine):
		return out // a module ignores an empty line
	case d.Err != nil:
		res.refused = append(res.refused, d.Err)
		return out
	}
	line := d.Line.Canonical
	s.inFlight, s.sent, s.forwarded = true, now, line
	s.connect, s.effects, s.prompt = d.Connect, d.Effects, d.Prompt
	res.lines = append(res.lines, line)
	out = append(out, line...)
	return append(out, at.CommandTerminator)
}

// callData passes call data and watches for the escape: a '+' after a
// quiet guard time, two more each within the guard of the one before. The
// bridge's idea of the guard is generous (half the guard before, one and a
// half between), so that any escape the module may see is held: a false
// alarm costs call data a short wait, never a check.
func (s *streamState) callData(p, out []byte, now time.Time) (int, []byte) {
	e := &s.esc
	for i := 0; i < len(p); {
		if e.plus == 0 {
			// Bytes up to the next '+' cannot begin an escape: pass them
			// in one piece (this is the per-byte path of a call).
			j := bytes.IndexByte(p[i:], '+')
			if j < 0 {
				e.last = now
				return len(p), append(out, p[i:]...)
			}
			if j > 0 {
				out = append(out, p[i:i+j]...)
				e.last = now
				i += j
			}
		}
		c := p[i]
		out = append(out, c)
		i++
		switch {
		case c != '+':
			e.plus = 0
		case e.plus > 0 && now.Sub(e.plusAt) < s.guard+s.guard/2:
			e.plus++
		case now.Sub(e.last) >= s.guard/2:
			e.plus = 1 // a first '+', also after a '+' too long ago
		default:
			e.plus = 0
		}
		e.last, e.plusAt = now, now
		if e.plus == 3 {
			e.plus = 0
			s.escape, s.escEnd, s.escForced = true, now.Add(2*s.guard+s.guard/2), false
			return i, out
		}
	}
	return len(p), out
}

// escapeStalled reports, once per escape, whether a possible escape got
// no OK by its end: the control loop then sends an escape of its own and
// follows the module's answer to it.
func (s *streamState) escapeStalled(now time.Time) bool {
	if !s.escape || s.escForced || now.Before(s.escEnd) {
		return false
	}
	s.escForced = true
	return true
}

// escapeScan is the escape seen so far in the application's call data.
type escapeScan struct {
	last   time.Time // the last call byte from the application
	plusAt time.Time // the last '+' of a possible escape
	plus   int       // how many '+' in a row
}

// promptData passes prompt input up to its end.
func (s *streamState) promptData(p, out []byte) (int, []byte) {
	in := &s.input
	if in.kind == at.CountPrompt {
		n := min(len(p), in.left)
		in.left -= n
		in.active = in.left > 0
		return n, append(out, p[:n]...)
	}
	if i := bytes.IndexAny(p, string([]byte{at.PromptSend, at.PromptCancel})); i >= 0 {
		in.active = false
		return i + 1, append(out, p[:i+1]...)
	}
	return len(p), append(out, p...)
}

// wakeAt returns when upstream must look at held bytes again even if the
// application writes nothing: at the end of an escape's wait, or soon
// while they wait for the module's answer. Zero when nothing is held.
func (s *streamState) wakeAt(now time.Time) time.Time {
	switch {
	case s.escape && !s.escForced:
		return minTime(s.escEnd, now.Add(pendingPoll))
	case s.escape, len(s.held) > 0:
		return now.Add(pendingPoll)
	}
	return time.Time{}
}

// fromModuleLine follows one line of the module's authentic output in
// command mode.
func (s *streamState) fromModuleLine(line string, now time.Time) {
	switch {
	case s.data:
		// CONNECT came earlier in the same piece: the rest is call data.
	case s.inFlight && strings.EqualFold(line, s.forwarded):
		// The echo of the line in flight: never a result.
	case at.IsConnect(line):
		if s.inFlight && s.connect {
			s.startCall(now)
		}
	case at.IsFinal(line):
		s.finished(line)
	case s.inFlight && s.prompt.Kind != at.NoPrompt && line == s.prompt.Marker:
		s.input = promptInput{active: true, kind: s.prompt.Kind, left: s.prompt.Count}
		s.prompt = at.Prompt{}
	}
}

// isPrompt reports whether a line the module has not ended yet is a
// prompt: one of the usual ones, or the one the line in flight may produce.
func (s *streamState) isPrompt(line string) bool {
	return at.IsPrompt(line) || s.inFlight && s.prompt.Kind != at.NoPrompt && line == s.prompt.Marker
}

// finished ends the command in flight with its final result.
func (s *streamState) finished(result string) {
	if !s.inFlight {
		return
	}
	e := s.effects
	switch {
	case result == at.OK:
		if e.Reset {
			s.echo, s.cmee = true, 0
		}
		if e.SetEcho && !e.Uncertain {
			s.echo = e.Echo
		}
		if e.SetCMEE && !e.Uncertain {
			s.cmee = e.CMEE
		}
	case e.Changed():
		s.echo = true // unknown: some of the line may have run
	}
	s.inFlight, s.connect, s.effects, s.prompt = false, false, at.Effects{}, at.Prompt{}
	s.input = promptInput{}
}

// startCall enters data mode on the CONNECT to a forwarded dial.
func (s *streamState) startCall(now time.Time) {
	s.inFlight, s.connect, s.prompt = false, false, at.Prompt{}
	s.data, s.escape, s.ppp, s.lastTx = true, false, false, false
	s.carrier = time.Time{}
	s.esc = escapeScan{last: now}
	s.editor.Reset()
}

// endCall leaves data mode: the module answered the escape, or the call ended.
func (s *streamState) endCall() {
	s.data, s.escape, s.inFlight = false, false, false
	s.carrier = time.Time{}
	s.editor.Reset()
}

// reset forgets the module's state: the session was lost.
func (s *streamState) reset() {
	s.endCall()
	s.finished(at.Error)
	s.held = nil
}

// fromModuleData follows the module's authentic output during a call. It
// reports whether p holds a NO CARRIER line anywhere (for the DCD rule).
func (s *streamState) fromModuleData(p []byte, now time.Time) (carrierText bool) {
	if s.escape && bytes.Contains(p, okLine) {
		s.endCall()
		return false
	}
	flag := bytes.IndexByte(p, pppFlag) >= 0
	s.ppp = s.ppp || flag
	carrierText = bytes.Contains(p, noCarrier)
	switch {
	case s.dcd:
		return carrierText // the caller asks the DCD line
	case !s.ppp:
		// A call without PPP: nothing tells the module's result from call
		// data (docs/protocol.md, "Threat model").
		if carrierText {
			s.endCall()
		}
	case !s.carrier.IsZero() && flag:
		s.carrier = time.Time{} // a flag followed: it was call data
	}
	if s.ppp && s.data && s.carrier.IsZero() {
		if i := afterFlag(p, s.lastTx); i >= 0 && bytes.IndexByte(p[i:], pppFlag) < 0 {
			s.carrier = now
		}
	}
	if len(p) > 0 {
		s.lastTx = p[len(p)-1] == pppFlag
	}
	return carrierText
}

// afterFlag returns where a NO CARRIER line starts right after a PPP flag
// in p (at 0 when the previous byte was one), or -1.
func afterFlag(p []byte, flagBefore bool) int {
	for i := 0; ; {
		j := bytes.Index(p[i:], noCarrier)
		if j < 0 {
			return -1
		}
		i += j
		if i > 0 && p[i-1] == pppFlag || i == 0 && flagBefore {
			return i
		}
		i++
	}
}

// carrierLost reports, at now, whether a NO CARRIER after a flag stood
// carrierQuiet without a flag after it; data mode then ends.
func (s *streamState) carrierLost(now time.Time) bool {
	if s.carrier.IsZero() || now.Sub(s.carrier) < carrierQuiet {
		return false
	}
	s.endCall()
	return true
}

// carrierAt returns when carrierLost must be asked, or zero.
func (s *streamState) carrierAt() time.Time {
	if s.carrier.IsZero() {
		return time.Time{}
	}
	return s.carrier.Add(carrierQuiet)
}

// idle reports whether the bridge may inject a command now: command mode,
// no application command in flight (one older than stale is taken as lost),
// no partial command line typed and nothing held.
func (s *streamState) idle(now time.Time, stale time.Duration) bool {
	if s.data || s.editor.Partial() || len(s.held) > 0 || s.input.active {
		return false
	}
	if s.inFlight {
		return stale > 0 && now.Sub(s.sent) > stale
	}
	return true
}
