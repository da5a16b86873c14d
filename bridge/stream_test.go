package bridge

import (
	"testing"
	"time"

	"github.com/c2cbridge/c2cbridge/at"
	c2c "github.com/c2cbridge/c2cbridge/crypto"
)

func TestStreamState(t *testing.T) {
	now := time.Unix(100, 0)
	type step struct {
		app, module string
		wantOut     string
		refused     int
		idle        bool
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"command and OK", []step{
			{app: "AT", wantOut: "", idle: false},
			{app: "\r", wantOut: "AT\r", idle: false},
			{module: "\r\nOK\r\n", idle: true},
		}},
		{"error results end a command", []step{
			{app: "AT+CPIN?\r", wantOut: "AT+CPIN?\r"},
			{module: "\r\n+CME ERROR: SIM not inserted\r\n", idle: true},
			{app: "AT+CMGS=1\r", wantOut: "AT+CMGS=1\r"},
			{module: "\r\n+CMS ERROR: 500\r\n", idle: true},
		}},
		{"sms prompt passes raw input", []step{
			{app: "AT+CMGS=\"+1\"\r", wantOut: "AT+CMGS=\"+1\"\r"},
			{module: "\r\n> ", idle: false},
			{app: "hello +USECC2C\x1a", wantOut: "hello +USECC2C\x1a", idle: false},
			{module: "\r\n+CMGS: 3\r\n\r\nOK\r\n", idle: true},
		}},
		{"data mode until NO CARRIER", []step{
			{app: "ATD*99#\r", wantOut: "ATD*99#\r"},
			{module: "\r\nCONNECT 115200\r\n", idle: false},
			{app: "\x7e\xff\r+USECC2C\r", wantOut: "\x7e\xff\r+USECC2C\r", idle: false},
			{module: "\r\nNO CARRIER\r\n", idle: true},
		}},
		{"escape from data mode", []step{
			{app: "ATD1\r", wantOut: "ATD1\r"},
			{module: "\r\nCONNECT\r\n"},
			{app: "+++", wantOut: "+++"},
			{module: "\r\nOK\r\n", idle: true},
		}},
		{"application +USECC2C refused", []step{
			{app: "at+usecc2c=2\r", refused: 1, idle: true},
			{app: "AT+CMEE=2;+USECC2C=2\r", refused: 1, idle: true},
			{app: "AT+usecC2c=3\rAT\r", wantOut: "AT\r", refused: 1},
		}},
		{"partial line is not idle", []step{
			{app: "AT+CG", idle: false},
			{app: "MI\r", wantOut: "AT+CGMI\r"},
			{module: "\r\nu-blox\r\n", idle: false},
			{module: "\r\nOK\r\n", idle: true},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s streamState
			var lines at.LineSplitter
			for i, st := range tc.steps {
				if st.app != "" {
					out, refused := s.fromApp([]byte(st.app), nil, now)
					if string(out) != st.wantOut || refused != st.refused {
						t.Fatalf("step %d: out %q refused %d; want %q %d", i, out, refused, st.wantOut, st.refused)
					}
				}
				if st.module != "" {
					// As downstream does: data as it is, else line by line.
					if s.data {
						s.fromModuleData([]byte(st.module))
					} else {
						lines.Feed([]byte(st.module), s.fromModuleLine)
					}
				}
				if got := s.idle(now, time.Minute); got != st.idle {
					t.Fatalf("step %d: idle %v, want %v (%+v)", i, got, st.idle, s)
				}
			}
		})
	}
	var s streamState
	s.fromApp([]byte("AT\r"), nil, now)
	if s.idle(now.Add(30*time.Second), time.Minute) || !s.idle(now.Add(2*time.Minute), time.Minute) {
		t.Fatal("a command in flight longer than the stale limit should count as lost")
	}
}

func TestReplaySet(t *testing.T) {
	var r replaySet
	r.init(4)
	iv := func(b byte) *[c2c.IVSize]byte { return &[c2c.IVSize]byte{b} }
	for i := range 4 {
		if r.seen(iv(byte(i))) {
			t.Fatalf("fresh IV %d seen", i)
		}
	}
	if !r.seen(iv(2)) {
		t.Fatal("repeated IV not seen")
	}
	r.seen(iv(9)) // pushes IV 0 out of the window
	if r.seen(iv(0)) {
		t.Fatal("IV beyond the window still remembered")
	}
	r.reset()
	if r.seen(iv(9)) {
		t.Fatal("reset kept IVs")
	}
}
