package bridge

import (
	"testing"
	"time"

	"github.com/c2cbridge/c2cbridge/at"
	c2c "github.com/c2cbridge/c2cbridge/crypto"
)

func TestStreamState(t *testing.T) {
	start := time.Unix(100, 0)
	const guard = 100 * time.Millisecond
	type step struct {
		at          time.Duration // since start
		app, module string
		wantOut     string
		refused     int
		idle        bool
		data        bool
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
		{"sms prompt passes raw input up to Ctrl-Z", []step{
			{app: "AT+CMGS=\"+1\"\r", wantOut: "AT+CMGS=\"+1\"\r"},
			{app: "hello", wantOut: ""}, // held until the prompt
			{module: "\r\n> ", wantOut: "hello", idle: false},
			{app: " +USECC2C\x1aAT+USECC2C=3\r", wantOut: " +USECC2C\x1a", refused: 1},
			{module: "\r\n+CMGS: 3\r\n\r\nOK\r\n", idle: true},
		}},
		{"count prompt takes its bytes, then lines again", []step{
			{app: "AT+USOWR=0,4\r", wantOut: "AT+USOWR=0,4\r"},
			{module: "\r\n@"},
			{app: "\r\x00+UAT+USECC2C=3\r", wantOut: "\r\x00+U", refused: 1},
			{module: "\r\n+USOWR: 0,4\r\n\r\nOK\r\n", idle: true},
		}},
		{"data mode until NO CARRIER", []step{
			{app: "ATD*99#\r", wantOut: "ATD*99#\r"},
			{module: "\r\nCONNECT 115200\r\n", idle: false, data: true},
			{app: "\xff\r+USECC2C\r", wantOut: "\xff\r+USECC2C\r", idle: false, data: true},
			{module: "\r\nNO CARRIER\r\n", idle: true},
		}},
		{"CONNECT counts only after a dial", []step{
			{app: "AT+CGMI\r", wantOut: "AT+CGMI\r"},
			{module: "\r\nCONNECT\r\n", idle: false},
			{module: "\r\nOK\r\n", idle: true},
			{app: "CONNECT\r", refused: 1, idle: true},
		}},
		{"the echo of a forwarded line is not a result", []step{
			{app: "ATD*99#\r", wantOut: "ATD*99#\r"},
			{module: "ATD*99#\r\r\nCONNECT\r\n", data: true},
		}},
		{"escape from data mode", []step{
			{app: "ATD1\r", wantOut: "ATD1\r"},
			{module: "\r\nCONNECT\r\n", data: true},
			{at: time.Second, app: "+", wantOut: "+", data: true},
			{at: time.Second + 50*time.Millisecond, app: "++AT+USECC2C=3\r", wantOut: "++", data: true},
			{at: time.Second + 60*time.Millisecond, module: "\r\nOK\r\n", refused: 1, idle: true},
		}},
		{"an escape after a lone '+'", []step{
			{app: "ATD1\r", wantOut: "ATD1\r"},
			{module: "\r\nCONNECT\r\n", data: true},
			{at: time.Second, app: "+", wantOut: "+", data: true},
			{at: 2 * time.Second, app: "+++AT\r", wantOut: "+++", data: true},
			{at: 2*time.Second + 150*time.Millisecond, module: "\r\nOK\r\n", wantOut: "AT\r"},
		}},
		{"no escape without the guard: call data", []step{
			{app: "ATD1\r", wantOut: "ATD1\r"},
			{module: "\r\nCONNECT\r\n", data: true},
			{at: time.Second, app: "x+++AT\r", wantOut: "x+++AT\r", data: true},
		}},
		{"a possible escape without OK holds input for the bridge's own escape", []step{
			{app: "ATD1\r", wantOut: "ATD1\r"},
			{module: "\r\nCONNECT\r\n", data: true},
			{at: time.Second, app: "+++abc", wantOut: "+++", data: true},
			{at: 2 * time.Second, app: "d", wantOut: "", data: true},
		}},
		{"PPP: a NO CARRIER inside frames is call data", []step{
			{app: "ATD*99#\r", wantOut: "ATD*99#\r"},
			{module: "\r\nCONNECT\r\n", data: true},
			{module: "\x7e\xff\x03\r\nNO CARRIER\r\n\x7e", data: true},
			{at: time.Second, module: "\x7e\r\nNO CARRIER\r\n\x7e", data: true},
			{at: 2 * time.Second, module: "\x7e\r\nNO CARRIER\r\n", data: true},
			{at: 2*time.Second + 50*time.Millisecond, module: "\x7e", data: true},
		}},
		{"PPP: NO CARRIER after the last flag ends the call", []step{
			{app: "ATD*99#\r", wantOut: "ATD*99#\r"},
			{module: "\r\nCONNECT\r\n", data: true},
			{module: "\x7e\xff\x03\x7e", data: true},
			{at: time.Second, module: "\r\nNO CARRIER\r\n", data: true},
			{at: time.Second + 200*time.Millisecond, idle: true},
		}},
		{"application +USECC2C refused, however typed", []step{
			{app: "at+usecc2c=2\r", refused: 1, idle: true},
			{app: "AT+CMEE=2;+USECC2C=2\r", refused: 1, idle: true},
			{app: "AT+USECX\bC2C=3\r", refused: 1, idle: true},
			{app: "AT+USEC\x01C2C=3\r", refused: 1, idle: true},
			{app: "AT+USEC C2C=3\r", refused: 1, idle: true},
			{app: "AT+usecC2c=3\rAT\r", wantOut: "AT\r", refused: 1},
		}},
		{"commands that change how the module talks are refused", []step{
			{app: "ATS5=88\rATS3=0\rATV0\rA/AT+IPR=9600\rATQ1\r", refused: 6, idle: true},
			{app: "ATE0V1&C1&D2\r", wantOut: "ATE0V1&C1&D2\r"},
		}},
		{"partial line is not idle", []step{
			{app: "AT+CG", idle: false},
			{app: "MI\r", wantOut: "AT+CGMI\r"},
			{module: "\r\nu-blox\r\n", idle: false},
			{module: "\r\nOK\r\n", idle: true},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := streamState{guard: guard}
			var lines at.LineSplitter
			for i, st := range tc.steps {
				now := start.Add(st.at)
				if st.module != "" {
					// As downstream does: data as it is, else line by line.
					if s.data {
						s.fromModuleData([]byte(st.module), now)
					} else {
						lines.Feed([]byte(st.module), func(l string) { s.fromModuleLine(l, now) })
					}
				}
				s.carrierLost(now)
				var res appResult
				out := s.fromApp([]byte(st.app), nil, now, &res)
				if string(out) != st.wantOut || len(res.refused) != st.refused {
					t.Fatalf("step %d: out %q refused %v; want %q %d", i, out, res.refused, st.wantOut, st.refused)
				}
				if got := s.idle(now, time.Minute); got != st.idle || s.data != st.data {
					t.Fatalf("step %d: idle %v data %v, want %v %v", i, got, s.data, st.idle, st.data)
				}
			}
		})
	}
	var s streamState
	var res appResult
	s.fromApp([]byte("AT\r"), nil, start, &res)
	if s.idle(start.Add(30*time.Second), time.Minute) || !s.idle(start.Add(2*time.Minute), time.Minute) {
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
