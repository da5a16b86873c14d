// Package at holds the plain AT text conventions the rest of c2cbridge shares:
// splitting a byte stream into response lines (LineSplitter), telling final
// result codes from intermediate, unsolicited and prompt lines (IsFinal,
// IsConnect, IsPrompt), gathering the answer to one command from those lines
// (Collector, Response), the errors a transaction ends in (ResultError,
// ErrCommand, ErrTimeout), and hiding secret arguments from log lines (Redact).
//
// For the application's side it holds what the bridge checks before it
// forwards anything: assembling edited command lines from the application's
// bytes (LineEditor), parsing them as a V.250 module would
// (ParseCommandLine), and the policy of what is refused, tracked, or may
// start data mode or a prompt (CheckLine).
//
// Package at does no I/O. Running a transaction on a port (send a command,
// read its answer under a deadline) is modemside.Transactor's job, built on
// these pieces.
//
// Nothing here knows about encryption: the same rules apply to the text a
// module sends in the clear and to the plaintext recovered from C2C frames.
package at

import (
	"errors"
	"fmt"
	"strings"
)

// MaxLine is the longest response line a LineSplitter keeps; longer lines
// are cut at this length so a hostile or garbled stream cannot make it grow
// without bound.
const MaxLine = 4096

// Final result codes that end a command in command mode.
const (
	OK         = "OK"
	Error      = "ERROR"
	NoCarrier  = "NO CARRIER"
	Busy       = "BUSY"
	NoAnswer   = "NO ANSWER"
	NoDialtone = "NO DIALTONE"
	Connect    = "CONNECT"
	CMEPrefix  = "+CME ERROR:"
	CMSPrefix  = "+CMS ERROR:"
)

// Sentinel errors a transaction reports; callers tell them apart with errors.Is.
var (
	// ErrCommand is returned (wrapped in a *ResultError) when the module
	// answers a command with a final result code other than OK.
	ErrCommand = errors.New("command failed")
	// ErrTimeout is returned when no final result code arrived in time.
	ErrTimeout = errors.New("no answer from the module")
)

// IsFinal reports whether line is a final result code: OK, ERROR,
// +CME ERROR:, +CMS ERROR:, NO CARRIER, BUSY, NO ANSWER or NO DIALTONE.
// CONNECT is not final in this sense: it starts data mode (see IsConnect).
func IsFinal(line string) bool {
	switch line {
	case OK, Error, NoCarrier, Busy, NoAnswer, NoDialtone:
		return true
	}
	return strings.HasPrefix(line, CMEPrefix) || strings.HasPrefix(line, CMSPrefix)
}

// IsConnect reports whether line is a CONNECT result (with or without a
// rate or text after it), which switches the module to data mode.
func IsConnect(line string) bool {
	return line == Connect || strings.HasPrefix(line, Connect+" ")
}

// ResultError is the error of a command answered with a failure result code.
type ResultError struct {
	Command string // the command as sent, without the trailing CR
	Result  string // the final result line, e.g. "+CME ERROR: SEC busy"
}

// Error implements error.
func (e *ResultError) Error() string {
	return fmt.Sprintf("%s: module answered %q", e.Command, e.Result)
}

// Unwrap makes errors.Is(err, ErrCommand) true.
func (e *ResultError) Unwrap() error { return ErrCommand }

// CMEText returns the text after "+CME ERROR:" (trimmed), or "" when the
// result is not a +CME ERROR.
func (e *ResultError) CMEText() string {
	if t, ok := strings.CutPrefix(e.Result, CMEPrefix); ok {
		return strings.TrimSpace(t)
	}
	return ""
}

// LineSplitter turns a byte stream into response lines. Lines end at CR or
// LF; empty lines are skipped. The SMS "> " prompt and the socket "@" prompt,
// which end without a line break, are reported as lines of their own when
// they stand alone at the start of a line.
type LineSplitter struct {
	buf []byte
}

// Feed adds p to the splitter and calls fn for each complete line, in order.
// The string passed to fn is a copy and may be kept.
func (s *LineSplitter) Feed(p []byte, fn func(line string)) {
	s.FeedUntil(p, func(line string) bool { fn(line); return false })
}

// FeedUntil is Feed that stops right after the line for which fn returns
// true, and returns how many bytes of p it consumed: all of them unless fn
// stopped it. A LF right after the stopping line's CR is consumed with it, so
// a caller that switches protocols after a "\r\nOK\r\n" starts clean.
func (s *LineSplitter) FeedUntil(p []byte, fn func(line string) bool) int {
	for i := 0; i < len(p); i++ {
		c := p[i]
		var line string
		switch c {
		case '\r', '\n':
			if len(s.buf) == 0 {
				continue
			}
			line = string(s.buf)
			s.buf = s.buf[:0]
			if c == '\r' && i+1 < len(p) && p[i+1] == '\n' {
				i++
			}
		default:
			if len(s.buf) < MaxLine {
				s.buf = append(s.buf, c)
			}
			// Prompts are one or two bytes: test only those (a
			// conversion per byte of a long line would cost its square).
			if len(s.buf) > 2 || !IsPrompt(string(s.buf)) {
				continue
			}
			line = string(s.buf)
			s.buf = s.buf[:0]
		}
		if fn(line) {
			return i + 1
		}
	}
	return len(p)
}

// Pending returns the bytes of the incomplete line held so far.
func (s *LineSplitter) Pending() []byte { return s.buf }

// Reset drops any incomplete line.
func (s *LineSplitter) Reset() { s.buf = s.buf[:0] }

// IsPrompt reports whether line is a prompt that asks for more input inside
// a command in flight: "> " (text-mode SMS) or "@" (socket write).
func IsPrompt(line string) bool {
	return line == "> " || line == "@"
}

// Response is the answer to one command: the information lines (echo
// removed) and the final result code.
type Response struct {
	Lines []string
	Final string
}

// Line returns the first information line that starts with prefix, and
// whether one was found.
func (r *Response) Line(prefix string) (string, bool) {
	for _, l := range r.Lines {
		if strings.HasPrefix(l, prefix) {
			return l, true
		}
	}
	return "", false
}

// Collector gathers the answer to one command from a line stream: it skips
// the echo of the command, keeps information lines and stops at a final
// result code. Lines are fed one at a time.
type Collector struct {
	Command string // the command sent, without CR; used to recognise its echo
	resp    Response
	done    bool
	echoed  bool
}

// Add feeds one line and reports whether the response is complete.
func (c *Collector) Add(line string) bool {
	if c.done {
		return true
	}
	if !c.echoed && c.Command != "" && strings.EqualFold(strings.TrimSpace(line), c.Command) {
		c.echoed = true
		return false
	}
	if IsFinal(line) {
		c.resp.Final = line
		c.done = true
		return true
	}
	c.resp.Lines = append(c.resp.Lines, line)
	return false
}

// Response returns what was collected. Its Final is "" while not done.
func (c *Collector) Response() Response { return c.resp }

// Err returns nil for an OK answer, a *ResultError for another final result,
// and nil while not done.
func (c *Collector) Err() error {
	if !c.done || c.resp.Final == OK {
		return nil
	}
	return &ResultError{Command: c.Command, Result: c.resp.Final}
}

// redacted lists the commands whose arguments are secrets: the C2C
// secrets, the SIM PIN and facility passwords, PDP authentication, and the
// u-blox profiles that hold passwords or keys (PSD, TLS, FTP, HTTP, MQTT).
var redacted = []string{
	SecurityCommand, "+CPIN", "+CPWD", "+CLCK", "+UAUTHREQ", "+CGAUTH",
	"+UPSD", "+USECPRF", "+USECMNG", "+UFTP", "+UHTTP", "+UMQTT",
}

// Redact returns line with the arguments of secret-bearing commands (and
// the answers that echo them) replaced by "<redacted>": everything after
// the first '=' or ':' that follows the name of one of AT+USECC2C, AT+CPIN,
// AT+CPWD, AT+CLCK, AT+UAUTHREQ, AT+CGAUTH, AT+UPSD, AT+USECPRF, AT+USECMNG,
// AT+UFTP, AT+UHTTP or AT+UMQTT (everything after the name when neither
// follows it). Names are found as a module would read them: in any case,
// ignoring spaces, quotes and control bytes, with backspace and DEL applied
// and also not applied, so a secret typed with spaces or edited in the line
// is hidden as well. A read (+CPIN?), a test (+CPIN=?) and a bare name keep
// the line. Other lines come back unchanged.
func Redact(line string) string {
	if cut := redactCut(line); cut >= 0 {
		return line[:cut] + "<redacted>"
	}
	return line
}
