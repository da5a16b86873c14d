package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startGuideBridge runs a bridge in front of modemsim and waits until its
// session is open; it returns the link of the virtual tty. The test's
// cleanup stops the bridge.
func startGuideBridge(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	cfg, _, mod := simSetup(t, dir)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- runBridge(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nil) }()
	deadline := time.Now().Add(30 * time.Second)
	for !mod.Stats().InSession {
		if time.Now().After(deadline) {
			t.Fatal("no session")
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Cleanup(func() { cancel(); <-errc })
	return cfg.PTY.Link
}

// TestPPPChatScript runs the README's pppd chat script with the real chat
// program through the bridge: it must reach CONNECT. Then it closes the
// tty as pppd does on hang-up; the bridge ends the call, and the next
// program finds the module in command mode.
func TestPPPChatScript(t *testing.T) {
	chat, err := exec.LookPath("chat")
	if err != nil {
		if chat, err = exec.LookPath("/usr/sbin/chat"); err != nil {
			t.Skip("chat is missing: install the Debian package ppp")
		}
	}
	link := startGuideBridge(t)
	tty, err := os.OpenFile(link, os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(chat, "-v", "-s", "-f", filepath.Join("..", "..", "examples", "ppp", "c2cbridge.chat"))
	cmd.Stdin, cmd.Stdout = tty, tty
	var log strings.Builder
	cmd.Stderr = &log
	if err := cmd.Run(); err != nil {
		t.Fatalf("chat: %v\n%s", err, log.String())
	}
	if !strings.Contains(log.String(), "CONNECT") {
		t.Fatalf("chat did not see CONNECT:\n%s", log.String())
	}
	tty.Close() // pppd hangs up
	// The next program starts a moment later (see the ptyside package doc
	// on replacements within microseconds).
	time.Sleep(20 * time.Millisecond)

	tty, err = os.OpenFile(link, os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer tty.Close()
	// The bridge needs the escape guards (about 2.5 s) to end the call.
	deadline := time.Now().Add(30 * time.Second)
	buf := make([]byte, 256)
	var got strings.Builder
	for !strings.Contains(got.String(), "\r\nOK\r\n") {
		if time.Now().After(deadline) {
			tail := got.String()
			t.Fatalf("after the hang-up, AT got (last 200 bytes) %q", tail[max(0, len(tail)-200):])
		}
		tty.Write([]byte("AT\r"))
		tty.SetReadDeadline(time.Now().Add(time.Second))
		n, _ := tty.Read(buf)
		got.Write(buf[:n])
	}
}

// TestPicocom drives picocom, the manual tool of the README, through the
// bridge in a tmux session, as a person types: ATI and Enter shows the
// module's identity.
func TestPicocom(t *testing.T) {
	picocom, err := exec.LookPath("picocom")
	if err != nil {
		t.Skip("picocom is missing: install the Debian package picocom")
	}
	tmux, err := exec.LookPath("tmux")
	if err != nil {
		t.Skip("tmux is missing: install the Debian package tmux")
	}
	link := startGuideBridge(t)
	sock := "c2cbridge-test-" + filepath.Base(t.TempDir())
	run := func(args ...string) string {
		out, _ := exec.Command(tmux, append([]string{"-L", sock}, args...)...).CombinedOutput()
		return string(out)
	}
	run("new-session", "-d", "-s", "pc", "-x", "150", "-y", "40", picocom+" -q --echo "+link+"; sleep 30")
	t.Cleanup(func() { run("kill-server") })
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(run("capture-pane", "-t", "pc", "-p"), "Manufacturer: u-blox") {
		if time.Now().After(deadline) {
			t.Fatalf("picocom shows:\n%s", run("capture-pane", "-t", "pc", "-p"))
		}
		// Type until picocom has the port open and the answer shows.
		run("send-keys", "-t", "pc", "-l", "ATI")
		run("send-keys", "-t", "pc", "C-m")
		time.Sleep(300 * time.Millisecond)
	}
}
