//go:build linux

package main

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestSimulateV250: simulate --v250 serves a module that edits its command
// lines and takes S-registers, A/ and ATV0 as V.250 says; without it the
// module keeps its simpler defaults. Each row runs simulate as a process
// and talks to its pty.
func TestSimulateV250(t *testing.T) {
	for _, tc := range []struct {
		name  string
		flags []string
		send  string
		want  string
	}{
		{"v250 S3", []string{"--v250"}, "ATS3?\r", "\r\n013\r\n\r\nOK\r\n"},
		{"v250 editing", []string{"--v250"}, "AT+CG\x01MX\bI\r", "\r\nu-blox\r\n\r\nOK\r\n"},
		{"v250 ATV0", []string{"--v250"}, "ATV0\r", "0\r"},
		{"v250 echo", []string{"--v250", "--echo"}, "A T\r", "A T\r\r\nOK\r\n"},
		{"default S3", nil, "ATS3?\r", "\r\nERROR\r\n"},
		{"default editing", nil, "AT+CG\x01MI\r", "\r\nERROR\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			link := filepath.Join(t.TempDir(), "modem")
			p := startCommand(t, append([]string{"simulate", "--link", link, "--pairable"}, tc.flags...)...)
			waitUntil(t, "the simulated UART's link", func() bool {
				_, err := os.Stat(link)
				return err == nil || !p.running()
			})
			a := openApp(t, link)
			a.write([]byte(tc.send))
			if got := string(a.readN("the answer", len(tc.want))); got != tc.want {
				t.Errorf("%q: got %q, want %q", tc.send, got, tc.want)
			}
			a.close()
			p.signal(t, syscall.SIGTERM)
			if status := p.wait(t); status != 0 {
				t.Errorf("simulate exited with status %d, want 0", status)
			}
		})
	}
}
