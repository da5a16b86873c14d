package pairing

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/c2cbridge/c2cbridge/at"
	c2c "github.com/c2cbridge/c2cbridge/crypto"
	"github.com/c2cbridge/c2cbridge/modemsim"
	"github.com/c2cbridge/c2cbridge/usec"
)

// testDevice is the device name the tests' errors carry.
const testDevice = "/dev/ttyTEST"

// testConfig returns a Config with short timeouts and a 1 ms backoff that
// records the retries it is asked about in *backoffs.
func testConfig(retries int, backoffs *[]int) Config {
	return Config{
		Device:         testDevice,
		ProbeTimeout:   2 * time.Second,
		CommandTimeout: 5 * time.Second,
		Retries:        retries,
		Backoff: func(retry int) time.Duration {
			*backoffs = append(*backoffs, retry)
			return time.Millisecond
		},
	}
}

// serveModule runs mod on one end of an in-memory line and returns the
// other end; the test's cleanup closes both and waits for Serve.
func serveModule(t *testing.T, mod *modemsim.Module) net.Conn {
	t.Helper()
	host, line := net.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mod.Serve(ctx, line) }()
	t.Cleanup(func() {
		cancel()
		host.Close()
		<-done
		line.Close()
		mod.Close()
	})
	return host
}

// newModule returns a simulated module with cfg.
func newModule(t *testing.T, cfg modemsim.Config) *modemsim.Module {
	t.Helper()
	mod, err := modemsim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return mod
}

func TestPair(t *testing.T) {
	tests := []struct {
		name          string
		version       c2c.Version
		echo          bool
		busy, retries int
		backoffs      []int // the retries the backoff is asked about
	}{
		{"V1", c2c.V1, false, 0, 0, nil},
		{"V2", c2c.V2, false, 0, 0, nil},
		{"V2, echo", c2c.V2, true, 0, 0, nil},
		{"V1, busy twice", c2c.V1, false, 2, DefaultRetries, []int{0, 1}},
		{"V2, busy as often as retried", c2c.V2, true, 3, 3, []int{0, 1, 2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mod := newModule(t, modemsim.Config{Pairable: true, Version: tc.version, Echo: tc.echo})
			mod.SetBusy(tc.busy)
			var backoffs []int
			s, err := Pair(context.Background(), serveModule(t, mod), testConfig(tc.retries, &backoffs))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Zero()
			got := mod.Secrets()
			if got == nil || *got != *s || s.Version() != tc.version {
				t.Errorf("paired %v, the module holds %v", s, got)
			}
			st := mod.Stats()
			wantConfirmations := uint64(0)
			if tc.version == c2c.V2 {
				wantConfirmations = 1
			}
			if st.Pairings != 1 || st.Confirmations != wantConfirmations || !st.Confirmed || st.BusyAnswers != uint64(tc.busy) {
				t.Errorf("module: %d pairings, %d confirmations, confirmed %v, %d busy; want 1, %d, true, %d",
					st.Pairings, st.Confirmations, st.Confirmed, st.BusyAnswers, wantConfirmations, tc.busy)
			}
			if fmt.Sprint(backoffs) != fmt.Sprint(tc.backoffs) {
				t.Errorf("backoff asked for retries %v, want %v", backoffs, tc.backoffs)
			}
		})
	}
}

// TestPairRefused runs the failures the simulated module can give.
func TestPairRefused(t *testing.T) {
	wrongTag := func(s *c2c.Secrets, tag *c2c.Secret, rand io.Reader) (string, error) {
		wrong := *tag
		wrong[0] ^= 1
		return c2c.SealConfirmation(s, &wrong, rand)
	}
	tests := []struct {
		name     string
		mod      modemsim.Config
		busy     int
		retries  int
		seal     func(*c2c.Secrets, *c2c.Secret, io.Reader) (string, error)
		err      error
		says     []string
		pairings uint64
	}{
		{"not pairable", modemsim.Config{}, 0, 0, nil, usec.ErrNotAllowed,
			[]string{"pairing (AT+USECC2C=0): ", `"+CME ERROR: operation not allowed"`, "not claimed", "no key file was written"}, 0},
		{"busy more than retried", modemsim.Config{Pairable: true}, 5, 2, nil, usec.ErrBusy,
			[]string{"pairing (AT+USECC2C=0): ", `"+CME ERROR: SEC busy" 3 times`, "--retries"}, 0},
		{"busy, no retries", modemsim.Config{Pairable: true}, 1, 0, nil, usec.ErrBusy,
			[]string{`"+CME ERROR: SEC busy" once`}, 0},
		{"wrong confirmation", modemsim.Config{Pairable: true}, 0, 0, wrongTag, usec.ErrRefused,
			[]string{"pairing confirmation (AT+USECC2C=4): ", `"ERROR"`, "does not match", "no key file was written"}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mod := newModule(t, tc.mod)
			mod.SetBusy(tc.busy)
			var backoffs []int
			cfg := testConfig(tc.retries, &backoffs)
			cfg.Seal = tc.seal
			s, err := Pair(context.Background(), serveModule(t, mod), cfg)
			checkError(t, s, err, tc.err, tc.says...)
			checkNoSecrets(t, err, mod.Secrets())
			if st := mod.Stats(); st.Pairings != tc.pairings || st.Confirmed && tc.pairings > 0 {
				t.Errorf("module: %d pairings, confirmed %v; want %d, false", st.Pairings, st.Confirmed, tc.pairings)
			}
		})
	}
}

// scripted is a module that answers each command line with the text its
// answer function returns for it, and nothing if that is "".
func scripted(t *testing.T, answer func(cmd string) string) net.Conn {
	t.Helper()
	host, line := net.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		r := bufio.NewReader(line)
		for {
			cmd, err := r.ReadString('\r')
			if err != nil {
				return
			}
			if a := answer(strings.TrimSuffix(cmd, "\r")); a != "" {
				if _, err := io.WriteString(line, a); err != nil {
					return
				}
			}
		}
	}()
	t.Cleanup(func() {
		host.Close()
		line.Close()
		<-done
	})
	return host
}

// pairAnswer answers AT+CMEE=2 with OK and a pairing with answer.
func pairAnswer(answer string) func(string) string {
	return func(cmd string) string {
		if usec.IsCommand(cmd) {
			return answer
		}
		return "\r\nOK\r\n"
	}
}

func TestPairBadAnswers(t *testing.T) {
	const key = "00112233445566778899AABBCCDDEEFF"
	tests := []struct {
		name   string
		answer func(cmd string) string
		err    error
		says   []string
	}{
		{"no answer to AT+CMEE=2", func(string) string { return "" }, at.ErrTimeout,
			[]string{"the module on " + testDevice + " does not take AT commands in plain text", "check modem.device and modem.baud"}},
		{"no answer to the pairing", pairAnswer(""), at.ErrTimeout,
			[]string{"pairing (AT+USECC2C=0): ", "within 300ms (session.command_timeout)", "power-cycle the module"}},
		{"status 5", pairAnswer("\r\n+USECC2C: 0,5\r\n\r\nOK\r\n"), usec.ErrRefused,
			[]string{"pairing (AT+USECC2C=0): ", "pairing status 5, not 0", "the module may have paired", "pair again"}},
		{"no information line", pairAnswer("\r\nOK\r\n"), usec.ErrBadAnswer,
			[]string{"no +USECC2C: 0 line", "the module may have paired"}},
		{"short key", pairAnswer("\r\n+USECC2C: 0,0,\"" + key[:30] + "\"\r\n\r\nOK\r\n"), usec.ErrBadAnswer,
			[]string{"the key is not 32 hex characters"}},
		{"other error", pairAnswer("\r\n+CME ERROR: 100\r\n"), usec.ErrRefused,
			[]string{`answer "+CME ERROR: 100": the module did not pair`}},
		{"bare NOT_ALLOWED", pairAnswer("\r\nNOT_ALLOWED\r\n"), usec.ErrNotAllowed,
			[]string{`answer "NOT_ALLOWED"`, "not claimed"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var backoffs []int
			cfg := testConfig(0, &backoffs)
			cfg.ProbeTimeout, cfg.CommandTimeout = 300*time.Millisecond, 300*time.Millisecond
			te := c2c.Secret{0xa5, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5}
			cfg.Rand = bytes.NewReader(te[:])
			s, err := Pair(context.Background(), scripted(t, tc.answer), cfg)
			checkError(t, s, err, tc.err, tc.says...)
			for _, secret := range []string{te.Hex()[:8], key[:8], strings.ToLower(key[:8])} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q quotes a secret", err)
				}
			}
		})
	}
}

func TestPairInterrupted(t *testing.T) {
	t.Run("while the module is busy", func(t *testing.T) {
		mod := newModule(t, modemsim.Config{Pairable: true})
		mod.SetBusy(5)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		cfg := testConfig(3, new([]int))
		cfg.Backoff = func(int) time.Duration {
			cancel() // as by SIGINT while waiting for the busy module
			return time.Hour
		}
		s, err := Pair(ctx, serveModule(t, mod), cfg)
		checkError(t, s, err, nil, "interrupted while the module was busy", "no key file was written")
		if st := mod.Stats(); st.BusyAnswers != 1 || st.Pairings != 0 {
			t.Errorf("module: %d busy answers, %d pairings; want 1, 0", st.BusyAnswers, st.Pairings)
		}
	})
	t.Run("while waiting for an answer", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		conn := scripted(t, pairAnswer(""))
		// The caller closes the line when ctx ends, as c2cbridge pair does.
		defer context.AfterFunc(ctx, func() { conn.Close() })()
		time.AfterFunc(200*time.Millisecond, cancel)
		s, err := Pair(ctx, conn, testConfig(0, new([]int)))
		checkError(t, s, err, context.Canceled, "pairing (AT+USECC2C=0): interrupted", "may or may not have done it")
	})
}

// checkError checks that Pair failed with an error that wraps want (if not
// nil) and says every text of says.
func checkError(t *testing.T, s *c2c.Secrets, err, want error, says ...string) {
	t.Helper()
	if err == nil || s != nil {
		t.Fatalf("paired %v, error %v; want a failure", s, err)
	}
	if want != nil && !errors.Is(err, want) {
		t.Errorf("error %v, want %v", err, want)
	}
	for _, w := range says {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
}

// checkNoSecrets fails if err's message holds any of s's secrets in hex.
func checkNoSecrets(t *testing.T, err error, s *c2c.Secrets) {
	t.Helper()
	if s == nil {
		return
	}
	msg := strings.ToLower(err.Error())
	for _, k := range []*c2c.Secret{&s.TESecret, &s.Key, &s.HMACKey} {
		if !k.IsZero() && strings.Contains(msg, k.Hex()) {
			t.Fatalf("the error %q holds a secret", err)
		}
	}
}

func TestBusyBackoff(t *testing.T) {
	for retry, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second,
		16 * time.Second, 30 * time.Second, 30 * time.Second} {
		if got := BusyBackoff(retry); got != want {
			t.Errorf("BusyBackoff(%d) = %v, want %v", retry, got, want)
		}
	}
	if got := BusyBackoff(1000); got != maxBusyBackoff {
		t.Errorf("BusyBackoff(1000) = %v", got)
	}
}
