package at

import (
	"bytes"
	"strings"
	"testing"
)

// feedAll runs p through e in one piece and returns every line reported.
func feedAll(e *LineEditor, p []byte) []Line {
	var lines []Line
	for len(p) > 0 {
		n, l, ok := e.Feed(p)
		p = p[n:]
		if ok {
			lines = append(lines, l)
		}
	}
	return lines
}

func TestLineEditor(t *testing.T) {
	long := strings.Repeat("A", MaxCommandLine-1)
	for _, tc := range []struct {
		name string
		in   string
		want []Line
	}{
		{"plain", "AT\r", []Line{{LineCommand, "AT"}}},
		{"two lines", "ATI\rAT+CSQ\r", []Line{{LineCommand, "ATI"}, {LineCommand, "AT+CSQ"}}},
		{"no terminator", "AT+CSQ", nil},
		{"empty line", "\r", []Line{{LineCommand, ""}}},
		{"CRLF: LF dropped", "AT\r\nATI\r\n", []Line{{LineCommand, "AT"}, {LineCommand, "ATI"}}},
		{"backspace", "AT+USECX\bC2C=3\r", []Line{{LineCommand, "AT+USECC2C=3"}}},
		{"DEL", "AT+CPIX\x7fN?\r", []Line{{LineCommand, "AT+CPIN?"}}},
		{"backspace past the start", "\b\b\x7fAT\r", []Line{{LineCommand, "AT"}}},
		{"control bytes dropped", "AT+USEC\x01C2C\x00=\x1a3\x1b\r", []Line{{LineCommand, "AT+USECC2C=3"}}},
		{"spaces and case kept", "at +cmgs=\"+44 12\"\r", []Line{{LineCommand, "at +cmgs=\"+44 12\""}}},
		{"high bytes kept", "AT\xc3\r", []Line{{LineCommand, "AT\xc3"}}},
		{"A/ at once", "A/", []Line{{LineRepeat, "A/"}}},
		{"a/ lower case", "a/AT\r", []Line{{LineRepeat, "a/"}, {LineCommand, "AT"}}},
		{"A/ after editing", "X\bA/", []Line{{LineRepeat, "A/"}}},
		{"A/ not at the start", "ATA/\r", []Line{{LineCommand, "ATA/"}}},
		{"longest line", long + "\r", []Line{{LineCommand, long}}},
		{"overlong", long + "B\rAT\r", []Line{{LineOverlong, ""}, {LineCommand, "AT"}}},
		{"overlong, backspace does not rescue", long + "B\b\b\rAT\r", []Line{{LineOverlong, ""}, {LineCommand, "AT"}}},
		{"overlong hides A/", long + "BA/\r", []Line{{LineOverlong, ""}}},
		{"backspaces keep it short", long + "\bB\r", []Line{{LineCommand, long[1:] + "B"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var e LineEditor
			got := feedAll(&e, []byte(tc.in))
			if !equalLines(got, tc.want) {
				t.Errorf("lines %q, want %q", got, tc.want)
			}
			// Byte by byte: the same lines.
			var e2 LineEditor
			var got2 []Line
			for i := range len(tc.in) {
				got2 = append(got2, feedAll(&e2, []byte{tc.in[i]})...)
			}
			if !equalLines(got2, tc.want) {
				t.Errorf("byte by byte: lines %q, want %q", got2, tc.want)
			}
		})
	}
}

func equalLines(a, b []Line) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestLineEditorFeedStopsAtLine(t *testing.T) {
	var e LineEditor
	p := []byte("AT+CMGS=\"1\"\rhello\x1a")
	n, l, ok := e.Feed(p)
	if !ok || l.Text != `AT+CMGS="1"` || n != 12 {
		t.Fatalf("Feed = %d, %+v, %v; want 12 and the first line", n, l, ok)
	}
	if !bytes.Equal(p[n:], []byte("hello\x1a")) {
		t.Errorf("rest %q", p[n:])
	}
	if e.Partial() {
		t.Error("Partial after a complete line")
	}
}

func TestLineEditorPartialAndReset(t *testing.T) {
	var e LineEditor
	if e.Partial() {
		t.Fatal("Partial on a new editor")
	}
	e.Feed([]byte("\x01\n"))
	if e.Partial() {
		t.Error("Partial after control bytes only")
	}
	e.Feed([]byte("AT"))
	if !e.Partial() {
		t.Error("not Partial after AT")
	}
	e.Feed([]byte("\b\b"))
	if e.Partial() {
		t.Error("Partial after backspacing to the start")
	}
	e.Feed([]byte(strings.Repeat("x", MaxCommandLine)))
	if !e.Partial() {
		t.Error("not Partial while discarding an overlong line")
	}
	e.Reset()
	if e.Partial() {
		t.Error("Partial after Reset")
	}
	if got := feedAll(&e, []byte("AT\r")); !equalLines(got, []Line{{LineCommand, "AT"}}) {
		t.Errorf("after Reset: %q", got)
	}
}

func BenchmarkLineEditor(b *testing.B) {
	var stream []byte
	for len(stream) < 64<<10 {
		stream = append(stream, "AT+CGDCONT=1,\"IP\",\"internet\"\r\nATE0V1&C1&D2\rAT+CSQ\x7f\x7fQ\r"...)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(stream)))
	var e LineEditor
	for b.Loop() {
		for p := stream; len(p) > 0; {
			n, _, _ := e.Feed(p)
			p = p[n:]
		}
	}
}

// BenchmarkLineEditorPartial feeds bytes that complete no line: no
// allocation at all.
func BenchmarkLineEditorPartial(b *testing.B) {
	chunk := []byte("AT+CGDCONT=1,\"IP\",\"internet\"\b\b\b\b\b\b\b\b\b\b\b\b\b\b\b\b\b\b\b\b\b\b\b\b\b\b\b\b\b")
	b.ReportAllocs()
	b.SetBytes(int64(len(chunk)))
	var e LineEditor
	for b.Loop() {
		e.Feed(chunk)
	}
}
