package modemside

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/c2cbridge/c2cbridge/at"
)

// transactors run a transaction with a Transactor reading a chunk per
// Read, as NewTransactor makes it, and with one reading a byte per Read, so
// that every answer also arrives split at every byte.
var transactors = []struct {
	name string
	run  func(rw DeadlineReadWriter, cmd string, timeout time.Duration) (at.Response, error)
}{
	{"byte per read", func(rw DeadlineReadWriter, cmd string, timeout time.Duration) (at.Response, error) {
		return (&Transactor{rw: rw, chunk: make([]byte, 1)}).Transact(cmd, timeout)
	}},
	{"Transactor", func(rw DeadlineReadWriter, cmd string, timeout time.Duration) (at.Response, error) {
		return NewTransactor(rw).Transact(cmd, timeout)
	}},
}

func TestTransactOnPTY(t *testing.T) {
	tests := []struct {
		name      string
		cmd       string
		echo      bool
		answer    string // what the module sends after the (optional) echo
		wantLines []string
		wantFinal string
		wantCME   string // for a +CME ERROR
	}{
		{name: "OK", cmd: "AT", answer: "\r\nOK\r\n", wantFinal: "OK"},
		{name: "ERROR", cmd: "AT+BOGUS", answer: "\r\nERROR\r\n", wantFinal: "ERROR"},
		{name: "CME ERROR", cmd: `AT+USECC2C=0,"00112233445566778899AABBCCDDEEFF"`, answer: "\r\n+CME ERROR: SEC busy\r\n",
			wantFinal: "+CME ERROR: SEC busy", wantCME: "SEC busy"},
		{name: "CMS ERROR", cmd: "AT+CMGS=1", answer: "\r\n+CMS ERROR: 500\r\n", wantFinal: "+CMS ERROR: 500"},
		{name: "echo on", cmd: "AT", echo: true, answer: "\r\nOK\r\n", wantFinal: "OK"},
		{name: "echo on, error", cmd: "AT+X", echo: true, answer: "\r\n+CME ERROR: operation not allowed\r\n",
			wantFinal: "+CME ERROR: operation not allowed", wantCME: "operation not allowed"},
		{name: "unsolicited line first", cmd: "AT", answer: "\r\n+CREG: 1\r\n\r\nOK\r\n",
			wantLines: []string{"+CREG: 1"}, wantFinal: "OK"},
		{name: "information lines", cmd: "AT+CGMI", echo: true, answer: "\r\nu-blox\r\n\r\nOK\r\n",
			wantLines: []string{"u-blox"}, wantFinal: "OK"},
		{name: "pairing answer", cmd: `AT+USECC2C=0,"00112233445566778899AABBCCDDEEFF"`, echo: true,
			answer:    "\r\n+USECC2C: 0,0,\"0F0E0D0C0B0A09080706050403020100\",\"AA\",\"BB\"\r\n\r\nOK\r\n",
			wantLines: []string{`+USECC2C: 0,0,"0F0E0D0C0B0A09080706050403020100","AA","BB"`}, wantFinal: "OK"},
		{name: "unsolicited, echo, information", cmd: "AT+CGMR", echo: true,
			answer:    "\r\n+UUPSDD: 0\r\n\r\n03.15\r\n\r\nOK\r\n",
			wantLines: []string{"+UUPSDD: 0", "03.15"}, wantFinal: "OK"},
		{name: "bare LF line ends", cmd: "AT+CGMI", answer: "\nu-blox\nOK\n", wantLines: []string{"u-blox"}, wantFinal: "OK"},
	}
	for _, tr := range transactors {
		for _, tt := range tests {
			t.Run(tr.name+"/"+tt.name, func(t *testing.T) {
				p, master := openPTY(t, Config{})
				fm := startModule(t, master, func(cmd string) string {
					if cmd != tt.cmd {
						return "\r\nERROR\r\n"
					}
					if tt.echo {
						return cmd + "\r" + tt.answer
					}
					return tt.answer
				})
				resp, err := tr.run(p, tt.cmd, hangGuard)
				if got := fm.received(); !slices.Equal(got, []string{tt.cmd}) {
					t.Errorf("module received %q, want %q", got, tt.cmd)
				}
				if resp.Final != tt.wantFinal || !slices.Equal(resp.Lines, tt.wantLines) {
					t.Errorf("Response = %q / %q, want %q / %q", resp.Lines, resp.Final, tt.wantLines, tt.wantFinal)
				}
				if tt.wantFinal == at.OK {
					if err != nil {
						t.Fatalf("error %v, want nil", err)
					}
					return
				}
				var re *at.ResultError
				if !errors.Is(err, at.ErrCommand) || !errors.As(err, &re) {
					t.Fatalf("error %v, want a *at.ResultError", err)
				}
				if re.Result != tt.wantFinal || re.Command != tt.cmd || re.CMEText() != tt.wantCME {
					t.Errorf("ResultError %+v (CMEText %q), want result %q, CMEText %q", re, re.CMEText(), tt.wantFinal, tt.wantCME)
				}
			})
		}
	}
}

func TestTransactTimeoutOnPTY(t *testing.T) {
	for _, tr := range transactors {
		t.Run(tr.name, func(t *testing.T) {
			p, master := openPTY(t, Config{})
			// A module that echoes and starts to answer, but never finishes.
			startModule(t, master, func(cmd string) string { return cmd + "\r\r\n+CGMI" })
			resp, err := tr.run(p, "AT+CGMI", 50*time.Millisecond)
			if !errors.Is(err, at.ErrTimeout) {
				t.Fatalf("error %v, want at.ErrTimeout", err)
			}
			if errors.Is(err, at.ErrCommand) || resp.Final != "" {
				t.Errorf("timeout reported as a result: %v, %+v", err, resp)
			}
			// The deadline is cleared: a Read waits for data again.
			if _, err := master.WriteString("z"); err != nil {
				t.Fatal(err)
			}
			// The partial "+CGMI" (and, for the function, the rest) may come first.
			got := readUntil(t, p, "z")
			if !strings.HasSuffix(got, "z") {
				t.Errorf("read %q after the timeout, want it to end in z", got)
			}
		})
	}
}

// readUntil reads r until what it has read ends with suffix.
func readUntil(t *testing.T, r io.Reader, suffix string) string {
	t.Helper()
	var got []byte
	buf := make([]byte, 64)
	done := make(chan error, 1)
	go func() {
		for !bytes.HasSuffix(got, []byte(suffix)) {
			n, err := r.Read(buf)
			got = append(got, buf[:n]...)
			if err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	if err := waitErr(t, done, "reading "+suffix); err != nil {
		t.Fatalf("read %q, then %v", got, err)
	}
	return string(got)
}

func TestLeftoverOnPTY(t *testing.T) {
	frame := "\xF9\x30\x00encrypted"
	answer := "\r\nOK\r\n" + frame
	p, master := openPTY(t, Config{})
	startModule(t, master, func(string) string { return answer })
	tr := NewTransactor(p)
	if _, err := tr.Transact(`AT+USECC2C=1,"00"`, hangGuard); err != nil {
		t.Fatal(err)
	}
	// Whatever the reads brought, the frame follows the OK, whole,
	// through Leftover then Read.
	got := string(tr.Leftover())
	if !strings.HasSuffix(got, "encrypted") {
		got += readUntil(t, tr, "encrypted")
	}
	if got != frame {
		t.Errorf("after OK: %q, want %q", got, frame)
	}
}

func TestWaitLineOnPTY(t *testing.T) {
	p, master := openPTY(t, Config{})
	fm := startModule(t, master, func(cmd string) string { return "\r\nOK\r\n" })
	tr := NewTransactor(p)
	if _, err := master.WriteString("\r\n+CREG: 0\r\n\r\nRDY\r\n"); err != nil {
		t.Fatal(err)
	}
	line, err := tr.WaitLine(func(l string) bool { return l == "RDY" }, hangGuard)
	if err != nil || line != "RDY" {
		t.Fatalf("WaitLine = %q, %v; want RDY", line, err)
	}
	if _, err := tr.Transact("AT", hangGuard); err != nil {
		t.Fatalf("Transact after WaitLine: %v", err)
	}
	if got := fm.received(); !slices.Equal(got, []string{"AT"}) {
		t.Errorf("module received %q", got)
	}
	_, err = tr.WaitLine(func(l string) bool { return l == "never" }, 20*time.Millisecond)
	if !errors.Is(err, at.ErrTimeout) {
		t.Errorf("WaitLine for a line that never comes = %v, want at.ErrTimeout", err)
	}
}
