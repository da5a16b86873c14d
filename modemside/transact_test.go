package modemside

import (
	"bytes"
	"errors"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/c2cbridge/c2cbridge/at"
)

// scriptedRW is an in-memory DeadlineReadWriter: each Read returns (up to
// len(p) bytes of) the next chunk; when the chunks are used up it returns
// end (os.ErrDeadlineExceeded when nil, as if the deadline passed).
type scriptedRW struct {
	chunks [][]byte
	end    error

	written        bytes.Buffer
	writeErr       error
	readDeadlines  []time.Time
	writeDeadlines []time.Time
}

func (s *scriptedRW) Read(p []byte) (int, error) {
	if len(s.chunks) == 0 {
		if s.end == nil {
			return 0, os.ErrDeadlineExceeded
		}
		return 0, s.end
	}
	n := copy(p, s.chunks[0])
	if s.chunks[0] = s.chunks[0][n:]; len(s.chunks[0]) == 0 {
		s.chunks = s.chunks[1:]
	}
	return n, nil
}

func (s *scriptedRW) Write(p []byte) (int, error) {
	if s.writeErr != nil {
		return 0, s.writeErr
	}
	return s.written.Write(p)
}

func (s *scriptedRW) SetReadDeadline(t time.Time) error {
	s.readDeadlines = append(s.readDeadlines, t)
	return nil
}

func (s *scriptedRW) SetWriteDeadline(t time.Time) error {
	s.writeDeadlines = append(s.writeDeadlines, t)
	return nil
}

// unread returns what the script still holds.
func (s *scriptedRW) unread() string {
	var b strings.Builder
	for _, c := range s.chunks {
		b.Write(c)
	}
	return b.String()
}

func chunks(ss ...string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = []byte(s)
	}
	return out
}

func TestTransactorLeftover(t *testing.T) {
	tests := []struct {
		name         string
		reads        [][]byte
		wantLeftover string
		wantUnread   string // still in the reader after Transact
		wantRead     string // what Transactor.Read then returns, up to the end of the script
	}{
		{"frame in the same read as OK", chunks("AT\r\r\nOK\r\n\xF9\x30\x00abc"), "\xF9\x30\x00abc", "", ""},
		{"frame in the next read", chunks("\r\nOK\r\n", "\xF9\x30"), "", "\xF9\x30", "\xF9\x30"},
		{"LF of the final line in the next read", chunks("\r\nOK\r", "\n\xF9\x30"), "", "\n\xF9\x30", "\xF9\x30"},
		{"lone LF in the next read", chunks("\r\nOK\r", "\n", "\xF9"), "", "\n\xF9", "\xF9"},
		{"unsolicited line after OK", chunks("\r\nOK\r\n\r\n+CREG: 2\r\n"), "\r\n+CREG: 2\r\n", "", ""},
		{"LF-only line ends", chunks("\nOK\n\nRDY"), "\nRDY", "", ""},
		{"a CR that is not followed by LF", chunks("\r\nOK\r\xF9\x01"), "\xF9\x01", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name+"/Leftover", func(t *testing.T) {
			rw := &scriptedRW{chunks: slices.Clone(tt.reads), end: io.EOF}
			tr := NewTransactor(rw)
			if _, err := tr.Transact("AT", time.Second); err != nil {
				t.Fatal(err)
			}
			if got := rw.unread(); got != tt.wantUnread {
				t.Errorf("unread %q, want %q", got, tt.wantUnread)
			}
			if got := string(tr.Leftover()); got != tt.wantLeftover {
				t.Errorf("Leftover() = %q, want %q", got, tt.wantLeftover)
			}
			if got := tr.Leftover(); len(got) != 0 {
				t.Errorf("second Leftover() = %q, want nothing", got)
			}
		})
		t.Run(tt.name+"/Read", func(t *testing.T) {
			rw := &scriptedRW{chunks: slices.Clone(tt.reads), end: io.EOF}
			tr := NewTransactor(rw)
			if _, err := tr.Transact("AT", time.Second); err != nil {
				t.Fatal(err)
			}
			// Through Read, with a small buffer, the stream goes on
			// without a gap and without the final line's LF.
			var got []byte
			buf := make([]byte, 3)
			for {
				n, err := tr.Read(buf)
				got = append(got, buf[:n]...)
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			want := tt.wantLeftover + tt.wantRead
			if string(got) != want {
				t.Errorf("Read gave %q, want %q", got, want)
			}
		})
	}
}

func TestTransactorKeepsLeftoverForNextCommand(t *testing.T) {
	rw := &scriptedRW{chunks: chunks("AT\r\r\nOK\r\n\r\n+CREG: 1\r\n\r\n+CGR", "EG: 0\r\n", "AT+CGMI\r\r\nu-blox\r\n\r\nOK\r\n")}
	tr := NewTransactor(rw)
	if resp, err := tr.Transact("AT", time.Second); err != nil || len(resp.Lines) != 0 {
		t.Fatalf("first Transact = %+v, %v", resp, err)
	}
	resp, err := tr.Transact("AT+CGMI", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"+CREG: 1", "+CGREG: 0", "u-blox"}; !slices.Equal(resp.Lines, want) {
		t.Errorf("Lines = %q, want %q", resp.Lines, want)
	}
	if got := rw.written.String(); got != "AT\rAT+CGMI\r" {
		t.Errorf("written %q", got)
	}
}

func TestTransactDeadlines(t *testing.T) {
	rw := &scriptedRW{chunks: chunks("\r\nOK\r\n")}
	before := time.Now()
	if _, err := NewTransactor(rw).Transact("AT", time.Minute); err != nil {
		t.Fatal(err)
	}
	for name, ds := range map[string][]time.Time{"read": rw.readDeadlines, "write": rw.writeDeadlines} {
		if len(ds) != 2 || ds[0].Before(before) || !ds[1].IsZero() {
			t.Errorf("%s deadlines %v, want one set a minute ahead, then cleared", name, ds)
		}
	}

	rw = &scriptedRW{chunks: chunks("\r\nOK\r\n")}
	if _, err := NewTransactor(rw).Transact("AT", 0); err != nil {
		t.Fatal(err)
	}
	for _, d := range rw.readDeadlines {
		if !d.IsZero() {
			t.Errorf("timeout 0 set read deadline %v, want none", d)
		}
	}
}

func TestTransactErrors(t *testing.T) {
	tests := []struct {
		name    string
		rw      *scriptedRW
		cmd     string
		timeout time.Duration
		want    error  // errors.Is target
		notWant error  // must not match
		text    string // in the message
	}{
		{"no answer", &scriptedRW{chunks: chunks("AT\r")}, "AT", time.Second, at.ErrTimeout, at.ErrCommand, "AT: no answer from the module within 1s"},
		{"half an answer", &scriptedRW{chunks: chunks("\r\n+CGM")}, "AT+CGMI", time.Second, at.ErrTimeout, nil, "AT+CGMI"},
		{"end of stream", &scriptedRW{chunks: chunks("\r\nO"), end: io.EOF}, "AT", time.Second, io.EOF, at.ErrTimeout, "read answer"},
		{"closed", &scriptedRW{end: os.ErrClosed}, "AT", time.Second, os.ErrClosed, at.ErrTimeout, "AT"},
		{"write blocked", &scriptedRW{writeErr: os.ErrDeadlineExceeded}, "AT", time.Second, at.ErrTimeout, nil, "CTS"},
		{"write failed", &scriptedRW{writeErr: os.ErrClosed}, "AT", time.Second, os.ErrClosed, at.ErrTimeout, "send"},
		{"empty reads", &scriptedRW{end: errEmptyRead}, "AT", 0, io.ErrNoProgress, at.ErrTimeout, "AT"},
		{"empty reads past the deadline", &scriptedRW{end: errEmptyRead}, "AT", time.Nanosecond, at.ErrTimeout, nil, "AT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewTransactor(emptyReads{tt.rw}).Transact(tt.cmd, tt.timeout)
			if !errors.Is(err, tt.want) {
				t.Fatalf("error %v, want %v", err, tt.want)
			}
			if tt.notWant != nil && errors.Is(err, tt.notWant) {
				t.Errorf("error %v also matches %v", err, tt.notWant)
			}
			if !strings.Contains(err.Error(), tt.text) {
				t.Errorf("error %q does not contain %q", err, tt.text)
			}
		})
	}
}

// errEmptyRead makes emptyReads return (0, nil) once the script is done.
var errEmptyRead = errors.New("empty read")

// emptyReads turns a scriptedRW's errEmptyRead into (0, nil) reads, like a
// reader with a read timeout of its own (go.bug.st/serial's Port).
type emptyReads struct{ *scriptedRW }

func (e emptyReads) Read(p []byte) (int, error) {
	n, err := e.scriptedRW.Read(p)
	if err == errEmptyRead {
		return n, nil
	}
	return n, err
}

func TestTransactRejectsLineBreaks(t *testing.T) {
	for _, cmd := range []string{"AT\r", "AT\nATZ", "AT\r\n"} {
		rw := &scriptedRW{chunks: chunks("\r\nOK\r\n")}
		if _, err := NewTransactor(rw).Transact(cmd, time.Second); err == nil {
			t.Errorf("Transact(%q) = nil error", cmd)
		}
		if rw.written.Len() != 0 {
			t.Errorf("Transact(%q) wrote %q", cmd, rw.written.String())
		}
	}
}

func TestWaitLine(t *testing.T) {
	rw := &scriptedRW{chunks: chunks("\r\n+CREG: 0\r\n\r\nRD", "Y\r\n\r\n+UUSECC2C: 1\r\n")}
	tr := NewTransactor(rw)
	line, err := tr.WaitLine(func(l string) bool { return l == "RDY" }, time.Second)
	if err != nil || line != "RDY" {
		t.Fatalf("WaitLine = %q, %v; want RDY", line, err)
	}
	if got := string(tr.Leftover()); got != "\r\n+UUSECC2C: 1\r\n" {
		t.Errorf("Leftover() = %q", got)
	}
	if len(rw.readDeadlines) != 2 || !rw.readDeadlines[1].IsZero() {
		t.Errorf("read deadlines %v, want set then cleared", rw.readDeadlines)
	}
	if _, err := tr.WaitLine(func(string) bool { return false }, time.Second); !errors.Is(err, at.ErrTimeout) {
		t.Errorf("WaitLine with no match = %v, want at.ErrTimeout", err)
	}
}

func TestLeftoverAfterTimeoutKeepsPartialLine(t *testing.T) {
	rw := &scriptedRW{chunks: chunks("\r\n+CGMI: u-bl")}
	tr := NewTransactor(rw)
	if _, err := tr.Transact("AT+CGMI", time.Second); !errors.Is(err, at.ErrTimeout) {
		t.Fatalf("Transact = %v, want at.ErrTimeout", err)
	}
	if got := string(tr.Leftover()); got != "+CGMI: u-bl" {
		t.Errorf("Leftover() = %q, want the partial line", got)
	}
}

// referenceAnswer runs the at package's splitter and collector over data
// one byte at a time, as a model of what Transact must find: the response,
// whether it completed, and the bytes after the final line (without the LF
// of its CR LF) or, when incomplete, the partial line.
func referenceAnswer(cmd string, data []byte) (at.Response, bool, []byte) {
	var s at.LineSplitter
	c := at.Collector{Command: cmd}
	for i, b := range data {
		done := false
		s.Feed([]byte{b}, func(l string) { done = c.Add(l) })
		if done {
			rest := data[i+1:]
			if b == '\r' && len(rest) > 0 && rest[0] == '\n' {
				rest = rest[1:]
			}
			return c.Response(), true, rest
		}
	}
	return c.Response(), false, s.Pending()
}

func FuzzTransactor(f *testing.F) {
	f.Add("AT", []byte("AT\r\r\nOK\r\n\xF9\x30\x00abc"), uint8(0))
	f.Add("AT+CGMI", []byte("\r\n+CREG: 1\r\nu-blox\r\n+CME ERROR: SEC busy\r\n"), uint8(3))
	f.Add("AT", []byte("\r\nOK\r"), uint8(1))
	f.Add("AT+CMGS=1", []byte("\r\n> \r\n+CMS ERROR: 500\r\n"), uint8(7))
	f.Add("AT", []byte("\r\n+CGMI"), uint8(2))
	f.Fuzz(func(t *testing.T, cmd string, data []byte, chunk uint8) {
		if strings.ContainsAny(cmd, "\r\n") {
			return
		}
		size := int(chunk%16) + 1
		var reads [][]byte
		for rest := data; len(rest) > 0; {
			n := min(size, len(rest))
			reads = append(reads, rest[:n])
			rest = rest[n:]
		}
		want, done, wantRest := referenceAnswer(cmd, data)

		rw := &scriptedRW{chunks: reads, end: io.EOF}
		tr := NewTransactor(rw)
		resp, err := tr.Transact(cmd, time.Second)
		if resp.Final != want.Final || !slices.Equal(resp.Lines, want.Lines) {
			t.Fatalf("Response %q / %q, reference %q / %q", resp.Lines, resp.Final, want.Lines, want.Final)
		}
		if !done {
			if !errors.Is(err, io.EOF) {
				t.Fatalf("incomplete answer: error %v, want io.EOF", err)
			}
			if got := tr.Leftover(); !bytes.Equal(got, wantRest) {
				t.Fatalf("incomplete answer: Leftover %q, want %q", got, wantRest)
			}
			return
		}
		if (err == nil) != (want.Final == at.OK) {
			t.Fatalf("final %q, error %v", want.Final, err)
		}
		// Nothing after the answer is lost, whatever the read sizes.
		got := append(tr.Leftover(), rw.unread()...)
		if tr.skipLF && len(got) > 0 && got[0] == '\n' {
			got = got[1:]
		}
		if !bytes.Equal(got, wantRest) {
			t.Fatalf("after the answer: %q, want %q", got, wantRest)
		}
	})
}
