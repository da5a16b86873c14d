//go:build linux

package main

// End-to-end tests with real third-party clients on the virtual tty:
// chat (Debian package ppp) and Python's pyserial (python3-serial).

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/c2cbridge/c2cbridge/modemsim"
)

// TestE2EThirdPartyClients runs unmodified clients against the bridge's
// link. A client that is not installed is skipped, naming the Debian
// package to install.
func TestE2EThirdPartyClients(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, r *rig)
	}{
		{"chat, then data on the tty it ran on", runChatThenData},
		{"chat alone, then another application", runChatAlone},
		{"pyserial", runPyserial},
	}
	for _, v := range e2eVersions {
		for _, tt := range tests {
			t.Run(v.String()+"/"+tt.name, func(t *testing.T) {
				r := newRig(t, v)
				r.startBridge(t)
				tt.run(t, r)
				checkCleanSession(t, r.stats())
			})
		}
	}
}

// chatScript dials the way pppd's connect script does, checking the
// module's identity on the way.
var chatScript = []string{
	"ABORT", "ERROR", "ABORT", "NO CARRIER",
	"", "AT",
	"OK", "AT+CGMI",
	"u-blox", `\c`,
	"OK", "ATD*99#",
	"CONNECT", `\c`,
}

// runChat runs chatScript on the virtual tty: chat talks on its standard
// input and output, a descriptor of its own here. It fails t unless chat
// exits 0, which it does when the script completes.
func runChat(t *testing.T, r *rig) {
	t.Helper()
	chat := findProgram(t, "chat", "/usr/sbin/chat", "ppp")
	tty, err := os.OpenFile(r.ttyLink, os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer tty.Close()
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	cmd := exec.CommandContext(ctx, chat, append([]string{"-V", "-s", "-t", "10"}, chatScript...)...)
	cmd.Stdin, cmd.Stdout = tty, tty
	var log bytes.Buffer
	cmd.Stderr = &log
	if err := cmd.Run(); err != nil {
		t.Fatalf("chat: %v (0 means the script completed; 3 a timeout, 4 ERROR, 5 NO CARRIER)\n%s", err, log.String())
	}
	if st := r.stats(); st.Connects != 1 || !st.DataMode {
		t.Fatalf("module after chat: Connects %d, DataMode %v; want chat's call up", st.Connects, st.DataMode)
	}
}

// runChatThenData runs chat as pppd does, on a tty pppd holds open: when
// chat exits, the call it made is up and pppd has the data path. Then
// "pppd" escapes and hangs up.
func runChatThenData(t *testing.T, r *rig) {
	pppd := openApp(t, r.ttyLink)
	runChat(t, r)
	pppd.write([]byte("ping"))
	// chat stops reading at "CONNECT": the CR LF after it is still there.
	got := string(pppd.readUntil("the looped-back data", func(buf []byte) int {
		if i := bytes.Index(buf, []byte("ping")); i >= 0 {
			return i + 4
		}
		return -1
	}))
	if got != "ping" && got != "\r\nping" {
		t.Fatalf("data after chat's CONNECT: got %q, want %q (after the CR LF chat left unread)", got, "ping")
	}
	time.Sleep(2 * e2eEscapeGuard)
	pppd.write([]byte("+++"))
	if got := string(pppd.readUntil("the OK of the escape", finalResultEnd)); got != answerOK {
		t.Fatalf("+++: answer %q, want %q", got, answerOK)
	}
	pppd.expectCommand("ATH", answerOK)
	pppd.expectCommand("AT", answerOK)
}

// runChatAlone runs chat on a tty nobody else holds: when it exits, the
// application that made the call is gone, so the bridge ends the call, and
// the next application finds the module in command mode.
func runChatAlone(t *testing.T, r *rig) {
	runChat(t, r)
	r.waitModem(t, "the bridge to end the call chat left", func(st modemsim.Stats) bool { return !st.DataMode })
	waitUntil(t, `the "call end" event`, func() bool { return r.mod.HasEvent("call end") })
	a := openApp(t, r.ttyLink)
	a.expectCommand("AT", answerOK)
	a.expectCommand("AT+CGMI", answerCGMI)
}

// runPyserial runs testdata/pyserial_at.py, which opens the link with
// serial.Serial and asks AT+CGMI.
func runPyserial(t *testing.T, r *rig) {
	const python = "/usr/bin/python3" // Debian's, where python3-serial installs
	if _, err := os.Stat(python); err != nil {
		t.Skipf("%s not found: install the Debian package python3-serial", python)
	}
	if out, err := exec.Command(python, "-c", "import serial").CombinedOutput(); err != nil {
		t.Skipf("pyserial is not installed for %s: install the Debian package python3-serial (%v: %s)", python, err, strings.TrimSpace(string(out)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	out, err := exec.CommandContext(ctx, python, "testdata/pyserial_at.py", r.ttyLink).CombinedOutput()
	if err != nil {
		t.Fatalf("pyserial_at.py: %v\n%s", err, out)
	}
	if want := `b'\r\nu-blox\r\n\r\nOK\r\n'`; strings.TrimSpace(string(out)) != want {
		t.Errorf("pyserial_at.py printed %s, want %s", out, want)
	}
}

// findProgram returns the path of a client program, found in PATH or at
// path (sbin is not always in PATH), or skips the test naming the Debian
// package to install.
func findProgram(t *testing.T, name, path, pkg string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if _, err := os.Stat(path); err == nil {
		return path
	}
	t.Skipf("%s not found: install the Debian package %s", name, pkg)
	return ""
}
