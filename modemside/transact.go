package modemside

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/c2cbridge/c2cbridge/at"
)

// DeadlineReadWriter is what a Transactor needs.
//
// Read should block until data arrives; a Read that returns (0, nil) is
// tolerated, but then only the clock ends the wait. A Read or Write past its
// deadline must fail with an error wrapping os.ErrDeadlineExceeded, as
// *os.File, net.Conn and Port do. If the value also has
// SetWriteDeadline(time.Time) error, the transaction's timeout covers
// sending the command too.
type DeadlineReadWriter interface {
	io.ReadWriter
	SetReadDeadline(t time.Time) error
}

// writeDeadliner is the optional write-deadline half of a DeadlineReadWriter.
type writeDeadliner interface {
	SetWriteDeadline(t time.Time) error
}

// readChunk is how much a Transactor asks for per Read.
const readChunk = 512

// maxEmptyReads is how many (0, nil) Reads in a row a Transactor accepts
// from a reader before it reports io.ErrNoProgress, as bufio does.
const maxEmptyReads = 100

// Transactor runs plain-text AT transactions on a DeadlineReadWriter and
// keeps the bytes it read beyond the end of an answer.
//
// A read can return the final "OK\r\n" together with whatever the module
// sent next: an unsolicited line, or the first C2C frame right after the
// plain OK of AT+USECC2C=1. Those bytes stay in the Transactor: a later
// Transact or WaitLine processes them first, and a caller that leaves plain
// text takes them with Leftover or keeps reading through Transactor.Read.
//
// A Transactor is not safe for concurrent use, and nothing else may read
// from its DeadlineReadWriter while the Transactor is in use.
type Transactor struct {
	rw DeadlineReadWriter

	// buf holds the bytes read and not yet looked at. It is a slice of
	// chunk: a Transactor reads only when buf is empty.
	buf   []byte
	chunk []byte // read buffer; its length is the size of one Read

	split  at.LineSplitter // the line being assembled
	skipLF bool            // the last line ended with CR: a LF right after it belongs to it
}

// NewTransactor returns a Transactor that reads and writes through rw.
func NewTransactor(rw DeadlineReadWriter) *Transactor {
	return &Transactor{rw: rw, chunk: make([]byte, readChunk)}
}

// Transact sends cmd + "\r" in plain text and collects lines until a final
// result code (at.IsFinal), skipping the echo and keeping unsolicited and
// information lines in Response.Lines. Bytes left over from earlier reads
// are processed first, as the part of the stream that came before the
// answer.
//
// It returns an error wrapping at.ErrTimeout if no final result arrives
// within timeout (a timeout <= 0 means no time limit), and a
// *at.ResultError (errors.Is(err, at.ErrCommand)) for a final result other
// than OK; the Response collected so far is returned with every error. It
// clears the read deadline (and the write deadline, if it set one) before
// returning. CONNECT and prompts ("> ", "@") are not final: a command that
// answers with one times out here.
func (t *Transactor) Transact(cmd string, timeout time.Duration) (at.Response, error) {
	if strings.ContainsAny(cmd, "\r\n") {
		return at.Response{}, fmt.Errorf("%q: a command cannot contain a line break", cmd)
	}
	deadline := deadlineAfter(timeout)
	if err := t.rw.SetReadDeadline(deadline); err != nil {
		return at.Response{}, fmt.Errorf("%s: set read deadline: %w", cmd, err)
	}
	defer t.rw.SetReadDeadline(time.Time{})

	if err := t.send(cmd, deadline, timeout); err != nil {
		return at.Response{}, err
	}
	c := at.Collector{Command: cmd}
	for {
		line, err := t.nextLine(deadline)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return c.Response(), fmt.Errorf("%s: %w within %v", cmd, at.ErrTimeout, timeout)
			}
			return c.Response(), fmt.Errorf("%s: read answer: %w", cmd, err)
		}
		if c.Add(line) {
			return c.Response(), c.Err()
		}
	}
}

// send writes cmd + "\r", under the deadline if rw has write deadlines.
func (t *Transactor) send(cmd string, deadline time.Time, timeout time.Duration) error {
	if wd, ok := t.rw.(writeDeadliner); ok {
		if err := wd.SetWriteDeadline(deadline); err != nil {
			return fmt.Errorf("%s: set write deadline: %w", cmd, err)
		}
		defer wd.SetWriteDeadline(time.Time{})
	}
	if _, err := io.WriteString(t.rw, cmd+"\r"); err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return fmt.Errorf("%s: %w: the command could not be sent within %v (is the module holding CTS low? check the RTS/CTS wiring and modem.flow_control): %w",
				cmd, at.ErrTimeout, timeout, err)
		}
		return fmt.Errorf("%s: send: %w", cmd, err)
	}
	return nil
}

// WaitLine reads lines until one satisfies match and returns it, for
// waiting on an unsolicited line such as "RDY" or "+UUSECC2C". Lines that
// do not match are dropped. Like Transact, it processes left-over bytes
// first, returns an error wrapping at.ErrTimeout when no line matches
// within timeout (<= 0: no limit), and clears the read deadline before
// returning.
func (t *Transactor) WaitLine(match func(line string) bool, timeout time.Duration) (string, error) {
	deadline := deadlineAfter(timeout)
	if err := t.rw.SetReadDeadline(deadline); err != nil {
		return "", fmt.Errorf("wait for a line: set read deadline: %w", err)
	}
	defer t.rw.SetReadDeadline(time.Time{})
	for {
		line, err := t.nextLine(deadline)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return "", fmt.Errorf("wait for a line: %w within %v", at.ErrTimeout, timeout)
			}
			return "", fmt.Errorf("wait for a line: %w", err)
		}
		if match(line) {
			return line, nil
		}
	}
}

// Leftover returns the bytes read but not used by the last Transact or
// WaitLine: everything after the final line (and its CR LF), including an
// incomplete line if the call failed. The caller must process them before
// anything it reads next from the underlying reader. The slice is the
// caller's: the Transactor forgets those bytes, so a later Transact,
// WaitLine, Read or Leftover does not return them again.
func (t *Transactor) Leftover() []byte {
	t.dropLF()
	pending := t.split.Pending()
	out := make([]byte, 0, len(pending)+len(t.buf))
	out = append(append(out, pending...), t.buf...)
	t.split.Reset()
	t.buf = nil
	return out
}

// Read continues the stream after the last Transact or WaitLine: it returns
// the left-over bytes first (see Leftover), then reads from the underlying
// reader. A line feed that ends the last line is skipped even when it
// arrives only now.
func (t *Transactor) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if pending := t.split.Pending(); len(pending) > 0 {
		// An incomplete line from a failed call comes first. This is the
		// one place buf stops being a slice of chunk, until it is empty.
		// (No LF to skip: bytes were fed after the last line's CR.)
		t.buf = append(slices.Clone(pending), t.buf...)
		t.split.Reset()
	}
	for {
		t.dropLF()
		if len(t.buf) > 0 {
			n := copy(p, t.buf)
			t.buf = t.buf[n:]
			return n, nil
		}
		n, err := t.rw.Read(p)
		if t.skipLF && n > 0 {
			t.skipLF = false
			if p[0] == '\n' {
				n = copy(p, p[1:n])
				if n == 0 && err == nil {
					continue
				}
			}
		}
		return n, err
	}
}

// dropLF drops a LF at the head of the buffer that ends the last line.
func (t *Transactor) dropLF() {
	if t.skipLF && len(t.buf) > 0 {
		t.skipLF = false
		if t.buf[0] == '\n' {
			t.buf = t.buf[1:]
		}
	}
}

// nextLine returns the next complete line, reading as needed.
func (t *Transactor) nextLine(deadline time.Time) (string, error) {
	empty := 0
	for {
		if line, ok := t.lineFromBuf(); ok {
			return line, nil
		}
		n, err := t.rw.Read(t.chunk)
		t.buf = t.chunk[:n]
		switch {
		case err != nil:
			// Bytes that came with the error are looked at first; an error
			// that lasts (EOF, closed) comes back on the next Read.
			if line, ok := t.lineFromBuf(); ok {
				return line, nil
			}
			return "", err
		case n > 0:
			empty = 0
		case !deadline.IsZero() && !time.Now().Before(deadline):
			return "", os.ErrDeadlineExceeded
		default:
			if empty++; empty >= maxEmptyReads {
				return "", io.ErrNoProgress
			}
		}
	}
}

// lineFromBuf moves bytes from buf into the line splitter one at a time, so
// that it stops exactly at the end of a line, and returns that line.
func (t *Transactor) lineFromBuf() (string, bool) {
	var (
		line string
		got  bool
	)
	for len(t.buf) > 0 && !got {
		c := t.buf[0]
		t.buf = t.buf[1:]
		if t.skipLF {
			t.skipLF = false
			if c == '\n' {
				continue
			}
		}
		t.split.Feed([]byte{c}, func(l string) { line, got = l, true })
		if got && c == '\r' {
			t.skipLF = true
		}
	}
	return line, got
}

// deadlineAfter turns a timeout into a deadline; <= 0 means none.
func deadlineAfter(timeout time.Duration) time.Time {
	if timeout <= 0 {
		return time.Time{}
	}
	return time.Now().Add(timeout)
}
