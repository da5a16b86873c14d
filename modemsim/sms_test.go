package modemsim

import (
	"testing"

	c2c "github.com/c2cbridge/c2cbridge/crypto"
)

// TestSMSPrompt checks AT+CMGS and AT+CMGW: the "> " prompt, the text up
// to Ctrl-Z answered with the reference, ESC dropping the message, a
// message split over several writes, the module's echo of the text, and
// the commands after the message, in plain text and in a session.
func TestSMSPrompt(t *testing.T) {
	for _, mode := range []string{"plain", "session"} {
		t.Run(mode, func(t *testing.T) {
			var c *client
			st := plainS
			send := func(s string) { c.send(s) }
			if mode == "session" {
				s := testSecrets(t, c2c.V2)
				_, c = start(t, Config{Secrets: s})
				c.mustOpen(s)
				st = ptS
				send = func(s string) { c.sendFramed(s) }
			} else {
				_, c = start(t, Config{})
			}
			cmd := func(line string) string {
				t.Helper()
				send(line + "\r")
				return c.response(st)
			}
			prompt := func(line string) {
				t.Helper()
				send(line + "\r")
				if got := string(c.next(st, 4)); got != "\r\n> " {
					t.Fatalf("%s: prompt %q, want %q", line, got, "\r\n> ")
				}
			}
			if got := cmd("AT+CMGF=1"); got != "\r\nOK\r\n" {
				t.Fatalf("AT+CMGF=1: %q", got)
			}
			prompt(`AT+CMGS="+15551234567"`)
			send("hello ")
			send("world\x1a")
			if got := c.response(st); got != "\r\n+CMGS: 1\r\n\r\nOK\r\n" {
				t.Errorf("after Ctrl-Z: %q", got)
			}
			// ESC drops the message: OK, and no reference is used.
			prompt(`AT+CMGS="+15551234567"`)
			send("never mind\x1b")
			if got := c.response(st); got != "\r\nOK\r\n" {
				t.Errorf("after ESC: %q", got)
			}
			prompt(`AT+CMGW="+15551234567"`)
			send("stored\x1a")
			if got := c.response(st); got != "\r\n+CMGW: 2\r\n\r\nOK\r\n" {
				t.Errorf("AT+CMGW: %q", got)
			}
			// The rest of a line after the text is AT input again.
			prompt(`AT+CMGS="+1"`)
			send("x\x1aAT\r")
			if got := c.response(st); got != "\r\n+CMGS: 3\r\n\r\nOK\r\n" {
				t.Errorf("third message: %q", got)
			}
			if got := c.response(st); got != "\r\nOK\r\n" {
				t.Errorf("AT after the message: %q", got)
			}
			for _, bad := range []string{"AT+CMGS", "AT+CMGS=", "AT+CMGS?"} {
				if got := cmd(bad); got != "\r\nERROR\r\n" {
					t.Errorf("%s: %q, want ERROR", bad, got)
				}
			}
			if got := cmd("AT+CMGS=?"); got != "\r\nOK\r\n" {
				t.Errorf("AT+CMGS=?: %q", got)
			}
			// With echo on, the module echoes the text too.
			if got := cmd("ATE1"); got != "\r\nOK\r\n" {
				t.Fatalf("ATE1: %q", got)
			}
			send("AT+CMGS=\"+1\"\r")
			if got := string(c.next(st, len("AT+CMGS=\"+1\"\r\r\n> "))); got != "AT+CMGS=\"+1\"\r\r\n> " {
				t.Fatalf("echoed prompt: %q", got)
			}
			send("hi\x1a")
			if got := c.response(st); got != "hi\x1a\r\n+CMGS: 4\r\n\r\nOK\r\n" {
				t.Errorf("echoed text: %q", got)
			}
		})
	}
}

// TestSMSTooLong checks that a message over maxSMS bytes is refused.
func TestSMSTooLong(t *testing.T) {
	_, c := start(t, Config{})
	c.send("AT+CMGS=\"+1\"\r")
	c.next(plainS, 4)
	long := make([]byte, maxSMS+1)
	for i := range long {
		long[i] = 'a'
	}
	c.write(append(long, ctrlZ))
	if got := c.response(plainS); got != "\r\nERROR\r\n" {
		t.Errorf("a message of %d bytes: %q", len(long), got)
	}
}
