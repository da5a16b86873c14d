package at

// Command-line editing characters. A V.250 module edits the command line it
// receives (with its S3 terminator and S5 backspace characters); the bridge
// does the same editing itself and forwards only the edited line, so the
// module never sees an editing or control byte and runs exactly the text the
// bridge checked.
// The bridge refuses ATS3, ATS4 and ATS5 writes (see CheckLine), so these are
// the module's values for the whole session.
const (
	// CommandTerminator ends a command line: S3, CR by default.
	CommandTerminator byte = '\r'
	// EditBackspace deletes the previous character of a command line: S5,
	// BS by default.
	EditBackspace byte = 0x08
	// EditDelete deletes the previous character too: picocom and many
	// terminals send DEL for the backspace key. A module would keep DEL as
	// a character; the bridge never forwards one.
	EditDelete byte = 0x7f
	// MaxCommandLine is the longest command line the bridge forwards,
	// terminator included: the size of the module's command buffer, which
	// u-blox gives as 1024 characters including the S3 character (SARA-R4
	// AT commands manual UBX-17003787, §1.1.4 and §1.1.5; the SARA-R5 manual
	// follows the same conventions). A longer line is refused whole, never
	// cut or flushed, since the module would split or truncate it where the
	// bridge cannot see.
	MaxCommandLine = 1024
	// maxLineText is the longest edited text of a line, without its
	// terminator.
	maxLineText = MaxCommandLine - 1
)

// LineKind says how a command line ended.
type LineKind uint8

// The kinds of Line a LineEditor reports.
const (
	// LineCommand is a line ended by CommandTerminator; Line.Text holds its
	// edited text, without the terminator, possibly empty.
	LineCommand LineKind = iota
	// LineOverlong is a line whose edited text grew past MaxCommandLine-1
	// bytes: its bytes up to and including its terminator were discarded,
	// and Line.Text is empty. The bridge answers it ERROR.
	LineOverlong
	// LineRepeat is A/ (in any case) typed at the start of a line: V.250's
	// "repeat last command line" has the module repeat its last command line at once, without
	// waiting for a terminator, so it is reported as soon as its second
	// byte arrives. Line.Text holds the two bytes as typed. The bridge
	// refuses it: the last line the module ran may be the bridge's own.
	LineRepeat
)

// String names the kind for logs and test messages.
func (k LineKind) String() string {
	switch k {
	case LineCommand:
		return "command"
	case LineOverlong:
		return "overlong"
	case LineRepeat:
		return "repeat"
	}
	return "unknown"
}

// Line is one command line assembled by a LineEditor.
type Line struct {
	Kind LineKind
	// Text is the edited line: backspaces applied, control bytes dropped,
	// spaces and case kept as typed. It holds no byte below 0x20 and no DEL,
	// and is at most MaxCommandLine-1 bytes long. It is what the bridge
	// forwards, followed by CommandTerminator, once CheckLine allows it.
	Text string
}

// LineEditor assembles the application's command-mode bytes into edited
// command lines, as a V.250 module would: CommandTerminator ends a line;
// EditBackspace and EditDelete delete the previous character (never past the
// start of the line); every other byte below 0x20, LF included, is dropped;
// A/ at the start of a line is reported at once as a LineRepeat; a line
// longer than MaxCommandLine is reported as LineOverlong at its terminator
// and its bytes are discarded. Bytes of 0x80 and above are kept (CheckLine
// refuses them).
//
// The bytes may arrive in chunks split anywhere: the lines reported are the
// same. A LineEditor holds at most MaxCommandLine bytes and allocates only to
// return a line's text. The zero value is ready to use; a LineEditor is not
// safe for concurrent use.
type LineEditor struct {
	buf      [maxLineText]byte
	n        int  // bytes of buf in use
	overlong bool // discarding up to the next terminator
}

// Feed reads p up to the end of the first line that completes in it. It
// returns how many bytes of p it consumed and, when ok is true, that line,
// whose last byte is p[n-1]. When no line completes, n is len(p), ok is false
// and the bytes are held for the next call. A caller that must act on a line
// before the bytes after it (a prompt, a dial) keeps p[n:] for later.
func (e *LineEditor) Feed(p []byte) (n int, line Line, ok bool) {
	for i, c := range p {
		switch {
		case c == CommandTerminator:
			if e.overlong {
				e.Reset()
				return i + 1, Line{Kind: LineOverlong}, true
			}
			line = Line{Kind: LineCommand, Text: string(e.buf[:e.n])}
			e.n = 0
			return i + 1, line, true
		case e.overlong:
		case c == EditBackspace || c == EditDelete:
			if e.n > 0 {
				e.n--
			}
		case c < 0x20:
			// V.250: other control characters are ignored.
		case e.n == maxLineText:
			e.n, e.overlong = 0, true
		default:
			e.buf[e.n] = c
			e.n++
			if e.n == 2 && e.buf[0]|0x20 == 'a' && e.buf[1] == '/' {
				line = Line{Kind: LineRepeat, Text: string(e.buf[:2])}
				e.n = 0
				return i + 1, line, true
			}
		}
	}
	return len(p), Line{}, false
}

// Partial reports whether part of a line has been typed and not yet ended:
// edited text is held, or an overlong line is being discarded. The bridge
// injects no command of its own while it is true.
func (e *LineEditor) Partial() bool { return e.n > 0 || e.overlong }

// Reset drops the line typed so far, as when the module leaves command mode.
func (e *LineEditor) Reset() { e.n, e.overlong = 0, false }
