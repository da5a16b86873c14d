//go:build linux

package main

// End-to-end tests of c2cbridge as a process (and of runMain, its body):
// shutdown on a signal, exit statuses and the one-line errors an operator
// sees for a bad setup.

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/c2cbridge/c2cbridge/config"
	c2c "github.com/c2cbridge/c2cbridge/crypto"
	"github.com/c2cbridge/c2cbridge/modemsim"
)

// TestE2ESignalShutdown runs c2cbridge run -c FILE in front of a simulated
// module, waits until the session is open and an application is answered,
// and sends SIGTERM (or SIGINT): the process closes the session, removes
// its link and exits 0, and the module speaks plain text again.
func TestE2ESignalShutdown(t *testing.T) {
	tests := []struct {
		name    string
		v       c2c.Version
		sig     syscall.Signal
		appOpen bool // the application still has the tty open at the signal
		call    bool // the application is in a data-mode call at the signal
	}{
		{"V1 SIGTERM, application attached", c2c.V1, syscall.SIGTERM, true, false},
		{"V2 SIGTERM, application attached", c2c.V2, syscall.SIGTERM, true, false},
		{"V2 SIGTERM, no application", c2c.V2, syscall.SIGTERM, false, false},
		{"V2 SIGINT, application attached", c2c.V2, syscall.SIGINT, true, false},
		{"V1 SIGTERM in a data-mode call", c2c.V1, syscall.SIGTERM, true, true},
		{"V2 SIGTERM in a data-mode call", c2c.V2, syscall.SIGTERM, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, tt.v)
			p := startCommand(t, "run", "-c", r.writeConfig(t))
			r.waitModem(t, "a session, or the bridge's exit", func(st modemsim.Stats) bool { return st.InSession || !p.running() })
			if !p.running() {
				t.Fatalf("c2cbridge exited (status %d) before the session opened", p.wait(t))
			}
			waitUntil(t, "the virtual tty's link", func() bool {
				_, err := os.Stat(r.ttyLink)
				return err == nil || !p.running()
			})
			a := openApp(t, r.ttyLink)
			a.expectCommand("AT+CGMI", answerCGMI)
			if tt.call {
				a.expectCommand("ATD*99#", "\r\nCONNECT\r\n")
				a.write([]byte("ping"))
				if got := string(a.readN("the looped-back data", 4)); got != "ping" {
					t.Fatalf("data: got %q, want %q", got, "ping")
				}
			}
			if !tt.appOpen {
				a.close()
			}

			p.signal(t, tt.sig)
			if status := p.wait(t); status != 0 {
				t.Fatalf("c2cbridge exited with status %d after %v, want 0", status, tt.sig)
			}
			r.checkRemoved(t)
			st := r.stats()
			if st.InSession || st.Opens != 1 || st.Closes != 1 {
				t.Errorf("module: InSession %v, Opens %d, Closes %d; want the one session closed", st.InSession, st.Opens, st.Closes)
			}
			if st.PlainBytesInSession != 0 {
				t.Errorf("module: PlainBytesInSession = %d, want 0", st.PlainBytesInSession)
			}
			if st.DataMode {
				t.Errorf("module: still in data mode: the bridge must end the call before it closes the session")
			}
			if out := p.stderr.String(); !strings.Contains(out, "secure session closed") {
				t.Errorf("c2cbridge's log does not say the session was closed:\n%s", out)
			}

			// The module answers plain AT on its UART again. The bridge
			// may leave TIOCEXCL set, as a dead process would.
			if err := r.srv.ClearExclusive(); err != nil {
				t.Fatal(err)
			}
			m := openApp(t, r.modemTTY)
			m.expectCommand("AT", answerOK)
			m.expectCommand("AT+CGMI", answerCGMI)
		})
	}
}

// TestE2EBadSetup starts c2cbridge run with a bad configuration, key file,
// device or pairing: it exits with a non-zero status and one line on
// stderr (after any log lines) that says what is wrong and how to fix it.
// Each case runs through runMain with buffers (which must return, not
// exit) and as a process.
func TestE2EBadSetup(t *testing.T) {
	// Each setup returns the arguments of c2cbridge and the strings the
	// error line must contain.
	type setup func(t *testing.T, r *rig) (args []string, want []string)
	writeFile := func(t *testing.T, path, text string, mode os.FileMode) {
		t.Helper()
		if err := os.WriteFile(path, []byte(text), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, mode); err != nil { // whatever the umask
			t.Fatal(err)
		}
	}
	// configText is a valid configuration for the rig, with lines replaced.
	configText := func(r *rig, replace ...string) string {
		text := fmt.Sprintf("modem:\n  device: %q\n  flow_control: none\npty:\n  link: %q\nkeys:\n  file: %q\nstatus:\n  socket: %q\n",
			r.modemTTY, r.ttyLink, r.keyFile, r.statusSocket)
		return strings.NewReplacer(replace...).Replace(text)
	}
	withConfig := func(replace ...string) setup {
		return func(t *testing.T, r *rig) ([]string, []string) {
			path := filepath.Join(r.dir, "config.yaml")
			writeFile(t, path, configText(r, replace...), 0o644)
			return []string{"run", "-c", path}, nil
		}
	}
	wantMore := func(s setup, want ...string) setup {
		return func(t *testing.T, r *rig) ([]string, []string) {
			args, w := s(t, r)
			return args, append(w, want...)
		}
	}
	withKeyFile := func(text string, mode os.FileMode, want ...string) setup {
		return func(t *testing.T, r *rig) ([]string, []string) {
			writeFile(t, r.keyFile, text, mode)
			args, _ := withConfig()(t, r)
			return args, append([]string{r.keyFile}, want...)
		}
	}
	hex32 := strings.Repeat("0123456789abcdef", 2)

	tests := []struct {
		name   string
		v      c2c.Version
		setup  setup
		status int
	}{
		{"unknown key", c2c.V2, wantMore(withConfig("  flow_control: none\n", "  flow_control: none\n  bauds: 9600\n"),
			"config", `line 4: unknown key "bauds"`), 1},
		{"missing modem.device", c2c.V2, wantMore(withConfig(`  device: `, `  #device: `),
			"modem.device", "required"), 1},
		{"missing keys.file", c2c.V2, wantMore(withConfig("keys:\n  file: ", "#keys:\n#  file: "),
			"keys.file", "required"), 1},
		{"configuration file missing", c2c.V2, func(t *testing.T, r *rig) ([]string, []string) {
			path := filepath.Join(r.dir, "nope.yaml")
			return []string{"run", "-c", path}, []string{path, "no such file"}
		}, 1},
		{"key file readable by others", c2c.V2, func(t *testing.T, r *rig) ([]string, []string) {
			if err := os.Chmod(r.keyFile, 0o644); err != nil {
				t.Fatal(err)
			}
			args, _ := withConfig()(t, r)
			return args, []string{"chmod 600 " + r.keyFile}
		}, 1},
		{"key file with a short te_secret", c2c.V2, withKeyFile("te_secret: 0123abcd\nkey: "+hex32+"\n", 0o600,
			"te_secret", "not 32 hex characters"), 1},
		{"key file with a short key", c2c.V1, withKeyFile("te_secret: "+hex32+"\nkey: "+hex32[:31]+"\n", 0o600,
			"key", "not 32 hex characters"), 1},
		{"key file missing", c2c.V2, func(t *testing.T, r *rig) ([]string, []string) {
			if err := os.Remove(r.keyFile); err != nil {
				t.Fatal(err)
			}
			args, _ := withConfig()(t, r)
			return args, []string{r.keyFile, "does not exist", "c2cbridge pair"}
		}, 1},
		{"modem device missing", c2c.V2, func(t *testing.T, r *rig) ([]string, []string) {
			missing := filepath.Join(r.dir, "ttyUSB9")
			args, _ := withConfig(r.modemTTY, missing)(t, r)
			return args, []string{missing, "modem.device"}
		}, 1},
		{"V1 te_secret the module does not know", c2c.V1, wrongTESecret, 1},
		{"V2 te_secret the module does not know", c2c.V2, wrongTESecret, 1},
		{"stray argument", c2c.V2, func(t *testing.T, r *rig) ([]string, []string) {
			args, _ := withConfig()(t, r)
			return append(args, "extra"), []string{`unexpected argument "extra"`}
		}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, tt.v)
			args, want := tt.setup(t, r)
			t.Run("runMain", func(t *testing.T) {
				var stdout, stderr bytes.Buffer
				status := runMain(args, &stdout, &stderr)
				checkSetupError(t, r, status, tt.status, stderr.String(), want)
			})
			t.Run("process", func(t *testing.T) {
				if err := r.srv.ClearExclusive(); err != nil {
					t.Fatal(err)
				}
				p := startCommand(t, args...)
				status := p.wait(t)
				checkSetupError(t, r, status, tt.status, p.stderr.String(), want)
			})
		})
	}
}

// wrongTESecret writes a key file whose te_secret the module was not paired
// with (key and hmac_key are right): the module refuses to open a session.
func wrongTESecret(t *testing.T, r *rig) ([]string, []string) {
	kf := &config.KeyFile{Secrets: *r.secrets}
	kf.Secrets.TESecret = newSecrets(t, c2c.V1).TESecret
	if err := config.WriteKeyFile(r.keyFile, kf); err != nil {
		t.Fatal(err)
	}
	return []string{"run", "-c", r.writeConfig(t)}, []string{"refused", "pairing", "c2cbridge pair", r.modemTTY}
}

// checkSetupError checks how c2cbridge failed: the exit status, one error
// line last on stderr with every wanted string, nothing else but log lines
// before it, no link left behind and no session left open.
func checkSetupError(t *testing.T, r *rig, status, wantStatus int, stderr string, want []string) {
	t.Helper()
	if status != wantStatus {
		t.Errorf("exit status %d, want %d", status, wantStatus)
	}
	lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
	last := lines[len(lines)-1]
	if !strings.HasPrefix(last, "c2cbridge") {
		t.Errorf("the last line on stderr is not c2cbridge's error:\n%s", stderr)
	}
	for _, l := range lines[:len(lines)-1] {
		if !strings.HasPrefix(l, "time=") {
			t.Errorf("stderr has more than the error and log lines: %q\nstderr:\n%s", l, stderr)
		}
	}
	for _, w := range want {
		if !strings.Contains(last, w) {
			t.Errorf("the error does not say %q:\n%s", w, last)
		}
	}
	r.checkRemoved(t)
	if st := r.stats(); st.InSession || st.Opens != 0 {
		t.Errorf("module: InSession %v, Opens %d; want no session ever", st.InSession, st.Opens)
	}
}
