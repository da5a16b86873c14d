package at

import (
	"errors"
	"reflect"
	"testing"
)

func TestIsFinal(t *testing.T) {
	for line, want := range map[string]bool{
		"OK": true, "ERROR": true, "+CME ERROR: SEC busy": true, "+CMS ERROR: 500": true,
		"NO CARRIER": true, "BUSY": true, "NO ANSWER": true, "NO DIALTONE": true,
		"CONNECT": false, "CONNECT 115200": false, "+CREG: 1": false, "OKAY": false, "RING": false, "": false,
	} {
		if IsFinal(line) != want {
			t.Errorf("IsFinal(%q) = %v", line, !want)
		}
	}
	if !IsConnect("CONNECT 115200") || !IsConnect("CONNECT") || IsConnect("CONNECTED") {
		t.Error("IsConnect")
	}
}

func TestLineSplitter(t *testing.T) {
	var s LineSplitter
	var got []string
	for _, chunk := range []string{"\r\nO", "K\r\n\r\n+CRE", "G: 1\n", "\r\n> ", "text\x1a", "\r\n@"} {
		s.Feed([]byte(chunk), func(l string) { got = append(got, l) })
	}
	want := []string{"OK", "+CREG: 1", "> ", "text\x1a", "@"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q want %q", got, want)
	}
}

func TestFeedUntil(t *testing.T) {
	var s LineSplitter
	p := []byte("\r\nOK\r\n\xf9\x30\x00")
	n := s.FeedUntil(p, func(l string) bool { return l == "OK" })
	if n != 6 {
		t.Fatalf("consumed %d, want 6", n)
	}
	if n := s.FeedUntil([]byte("a\rb\r"), func(string) bool { return false }); n != 4 {
		t.Fatalf("consumed %d", n)
	}
}

func TestCollector(t *testing.T) {
	c := Collector{Command: "AT+CGMI"}
	for _, l := range []string{"AT+CGMI", "+CREG: 1", "u-blox"} {
		if c.Add(l) {
			t.Fatal("done early")
		}
	}
	if !c.Add("OK") || c.Err() != nil {
		t.Fatal("not done on OK")
	}
	r := c.Response()
	if !reflect.DeepEqual(r.Lines, []string{"+CREG: 1", "u-blox"}) || r.Final != "OK" {
		t.Fatalf("%+v", r)
	}
	c = Collector{Command: "AT+USECC2C=1"}
	c.Add("+CME ERROR: SEC busy")
	var re *ResultError
	if err := c.Err(); !errors.As(err, &re) || !errors.Is(err, ErrCommand) || re.CMEText() != "SEC busy" {
		t.Fatalf("err %v", err)
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		`AT+USECC2C=1,"000102030405060708090a0b0c0d0e0f"`:  `AT+USECC2C=<redacted>`,
		`+USECC2C: 3,0,"00112233445566778899AABBCCDDEEFF"`: `+USECC2C:<redacted>`,
		`at+cpin="1234"`:                      `at+cpin=<redacted>`,
		`AT+CMEE=2;+UAUTHREQ=1,1,"user","pw"`: `AT+CMEE=2;+UAUTHREQ=<redacted>`,
		`AT+CGAUTH=1,1,"u","p"`:               `AT+CGAUTH=<redacted>`,
		`AT+CPIN?`:                            `AT+CPIN?`,
		`+CPIN: READY`:                        `+CPIN:<redacted>`,
		`AT+CGMI`:                             `AT+CGMI`,
		`OK`:                                  `OK`,
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

func BenchmarkLineSplitterLongLine(b *testing.B) {
	line := make([]byte, 64<<10)
	for i := range line {
		line[i] = 'x'
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(line)))
	var s LineSplitter
	for b.Loop() {
		s.Feed(line, func(string) {})
		s.Reset()
	}
}
