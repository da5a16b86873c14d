package modemsim

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/c2cbridge/c2cbridge/at"
	c2c "github.com/c2cbridge/c2cbridge/crypto"
)

// hang is the generous guard against a test that would otherwise hang. No
// test asserts on timing.
const hang = 10 * time.Second

// stream names one of the byte streams a client collects.
type stream int

const (
	plainS stream = iota // bytes received outside a session
	ptS                  // plaintext of authentic frames
	strayS               // bytes outside frames received in a session
)

func (s stream) String() string { return [...]string{"plain", "plaintext", "stray"}[s] }

// client is the host side in tests: it speaks the protocol through the
// codec, like the bridge will, and records everything it receives.
type client struct {
	t    testing.TB
	rw   io.ReadWriteCloser
	done chan struct{}

	mu      sync.Mutex
	bufs    [3][]byte
	offs    [3]int
	rejects []error
	frames  []int // plaintext size of every authentic frame
	ivs     map[[c2c.IVSize]byte]int
	dupIVs  int
	late    int // frames decoded after the client left the session
	readErr error

	sealer      *c2c.Sealer // nil outside a session
	opener      *c2c.Opener
	nextSealer  *c2c.Sealer // armed by open: take over after a plain OK
	nextOpener  *c2c.Opener
	armMark     int  // where in plain the open's answer starts
	closing     bool // the session ends after a framed OK
	closingMark int
}

// newClient starts a client on rw; the test's cleanup closes rw and waits
// for the client's reader.
func newClient(t testing.TB, rw io.ReadWriteCloser) *client {
	c := &client{t: t, rw: rw, done: make(chan struct{}), ivs: make(map[[c2c.IVSize]byte]int)}
	go c.readLoop()
	t.Cleanup(c.close)
	return c
}

func (c *client) close() {
	c.rw.Close()
	<-c.done
}

func (c *client) readLoop() {
	defer close(c.done)
	buf := make([]byte, 64<<10)
	for {
		n, err := c.rw.Read(buf)
		c.mu.Lock()
		c.feed(buf[:n])
		if err != nil {
			c.readErr = err
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
	}
}

var okLine = []byte("\r\nOK\r\n")

// feed sorts received bytes into the streams. c.mu held.
func (c *client) feed(p []byte) {
	for len(p) > 0 {
		if c.opener != nil {
			c.feedSession(p)
			return
		}
		if c.nextOpener == nil {
			c.bufs[plainS] = append(c.bufs[plainS], p...)
			return
		}
		i := 0
		for ; i < len(p); i++ {
			c.bufs[plainS] = append(c.bufs[plainS], p[i])
			if p[i] != '\n' {
				continue
			}
			if _, ok := findFinal(c.bufs[plainS][c.armMark:]); ok {
				if bytes.HasSuffix(c.bufs[plainS], okLine) {
					c.sealer, c.opener = c.nextSealer, c.nextOpener
				}
				c.nextSealer, c.nextOpener = nil, nil
				i++
				break
			}
		}
		p = p[i:]
	}
}

// feedSession decodes session bytes. c.mu held.
func (c *client) feedSession(p []byte) {
	c.opener.Feed(p, time.Now(), c.handler(c.opener))
}

// pollSession abandons a frame that has stalled (a dropped byte can leave
// the opener waiting for bytes that never come), as a real receiver does
// when its line is idle. c.mu held.
func (c *client) pollSession() {
	if c.opener != nil {
		c.opener.Poll(time.Now(), c.handler(c.opener))
	}
}

// handler sorts the events of opener o. c.mu held while it runs.
func (c *client) handler(o *c2c.Opener) func(*c2c.Event) {
	return func(ev *c2c.Event) {
		switch ev.Kind {
		case c2c.Plaintext:
			if c.opener != o {
				c.late++
				return
			}
			c.bufs[ptS] = append(c.bufs[ptS], ev.Data...)
			c.frames = append(c.frames, len(ev.Data))
			c.ivs[ev.IV]++
			if c.ivs[ev.IV] > 1 {
				c.dupIVs++
			}
			if c.closing && bytes.HasSuffix(c.bufs[ptS][c.closingMark:], okLine) {
				c.sealer, c.opener, c.closing = nil, nil, false
			}
		case c2c.Rejected:
			c.rejects = append(c.rejects, ev.Err)
		case c2c.Stray:
			if c.opener == o {
				c.bufs[strayS] = append(c.bufs[strayS], ev.Data...)
			} else {
				c.bufs[plainS] = append(c.bufs[plainS], ev.Data...)
			}
		}
	}
}

// findFinal returns the end (after its line break) of the first final
// result or CONNECT line in b.
func findFinal(b []byte) (int, bool) {
	start := 0
	for i := 0; i < len(b); i++ {
		if b[i] != '\r' && b[i] != '\n' {
			continue
		}
		line := string(b[start:i])
		start = i + 1
		if line == "" || !(at.IsFinal(line) || at.IsConnect(line)) {
			continue
		}
		end := i + 1
		if b[i] == '\r' && end < len(b) && b[end] == '\n' {
			end++
		}
		return end, true
	}
	return 0, false
}

// wait polls cond (run with c.mu held) until it holds.
func (c *client) wait(what string, cond func() bool) {
	c.t.Helper()
	deadline := time.Now().Add(hang)
	for {
		c.mu.Lock()
		c.pollSession()
		ok := cond()
		err := c.readErr
		c.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.t.Fatalf("timed out waiting for %s (read error %v)\nplain: %q\nplaintext: %q\nstray: %q\nrejects: %v",
				what, err, tail(c.bufs[plainS][c.offs[plainS]:]), tail(c.bufs[ptS][c.offs[ptS]:]),
				tail(c.bufs[strayS][c.offs[strayS]:]), c.rejects)
		}
		time.Sleep(time.Millisecond)
	}
}

func tail(b []byte) []byte {
	if len(b) > 300 {
		return b[len(b)-300:]
	}
	return b
}

// expect waits until sub arrives on s and returns what came up to its end.
func (c *client) expect(s stream, sub string) string {
	c.t.Helper()
	var got string
	c.wait(s.String()+" "+strconvQuote(sub), func() bool {
		b := c.bufs[s][c.offs[s]:]
		i := bytes.Index(b, []byte(sub))
		if i < 0 {
			return false
		}
		got = string(b[:i+len(sub)])
		c.offs[s] += i + len(sub)
		return true
	})
	return got
}

// next waits for n bytes on s and returns them.
func (c *client) next(s stream, n int) []byte {
	c.t.Helper()
	var got []byte
	c.wait(s.String()+" bytes", func() bool {
		b := c.bufs[s][c.offs[s]:]
		if len(b) < n {
			return false
		}
		got = bytes.Clone(b[:n])
		c.offs[s] += n
		return true
	})
	return got
}

// response waits for the next final result (or CONNECT) on s and returns
// everything up to it.
func (c *client) response(s stream) string {
	c.t.Helper()
	var got string
	c.wait(s.String()+" final result", func() bool {
		b := c.bufs[s][c.offs[s]:]
		end, ok := findFinal(b)
		if !ok {
			return false
		}
		got = string(b[:end])
		c.offs[s] += end
		return true
	})
	return got
}

// pending returns what s holds beyond its offset, without consuming it.
func (c *client) pending(s stream) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Clone(c.bufs[s][c.offs[s]:])
}

// skip consumes everything s holds now.
func (c *client) skip(s stream) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offs[s] = len(c.bufs[s])
}

func (c *client) write(p []byte) {
	c.t.Helper()
	if _, err := c.rw.Write(p); err != nil {
		c.t.Fatalf("client write: %v", err)
	}
}

func (c *client) send(s string) { c.t.Helper(); c.write([]byte(s)) }

// seal returns p in frames of the open session.
func (c *client) seal(p []byte) []byte {
	c.t.Helper()
	c.mu.Lock()
	s := c.sealer
	c.mu.Unlock()
	if s == nil {
		c.t.Fatal("client: no session to seal in")
	}
	out, err := s.Seal(nil, p)
	if err != nil {
		c.t.Fatal(err)
	}
	return out
}

func (c *client) sendFramed(s string) { c.t.Helper(); c.write(c.seal([]byte(s))) }

// cmd sends a plain command and returns its answer.
func (c *client) cmd(cmd string) string {
	c.t.Helper()
	c.send(cmd + "\r")
	return c.response(plainS)
}

// scmd sends a command in the session and returns its answer.
func (c *client) scmd(cmd string) string {
	c.t.Helper()
	c.sendFramed(cmd + "\r")
	return c.response(ptS)
}

// codecs returns a host sealer and opener for s.
func codecs(t testing.TB, s *c2c.Secrets) (*c2c.Sealer, *c2c.Opener) {
	t.Helper()
	sealer, err := c2c.NewSealer(s, rand.Reader, c2c.MaxHostPlaintext)
	if err != nil {
		t.Fatal(err)
	}
	opener, err := c2c.NewOpener(s, 0)
	if err != nil {
		t.Fatal(err)
	}
	return sealer, opener
}

// open sends AT+USECC2C=1 with s's te_secret and returns the answer; on a
// plain OK the client is in the session with s.
func (c *client) open(s *c2c.Secrets) string {
	c.t.Helper()
	sealer, opener := codecs(c.t, s)
	c.mu.Lock()
	c.nextSealer, c.nextOpener = sealer, opener
	c.armMark = len(c.bufs[plainS])
	c.mu.Unlock()
	return c.cmd(`AT+USECC2C=1,"` + s.TESecret.Hex() + `"`)
}

// mustOpen opens a session and fails the test if the module refuses.
func (c *client) mustOpen(s *c2c.Secrets) {
	c.t.Helper()
	if got := c.open(s); got != "\r\nOK\r\n" {
		c.t.Fatalf("open: got %q, want plain OK", got)
	}
	if !c.inSession() {
		c.t.Fatal("client not in session after OK")
	}
}

// end sends cmd (close or rekey) in the session and returns its answer;
// the client leaves the session at the framed OK.
func (c *client) end(cmd string) string {
	c.t.Helper()
	c.mu.Lock()
	c.closing = true
	c.closingMark = len(c.bufs[ptS])
	c.mu.Unlock()
	c.sendFramed(cmd + "\r")
	c.wait("end of session", func() bool { return c.opener == nil })
	return c.response(ptS)
}

// resume puts the client in a session with s without opening one (the
// module's session survived, or uses new secrets).
func (c *client) resume(s *c2c.Secrets) {
	sealer, opener := codecs(c.t, s)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sealer, c.opener = sealer, opener
}

// leave drops the client's session (after the module rebooted).
func (c *client) leave() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sealer, c.opener = nil, nil
}

func (c *client) inSession() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.opener != nil
}

// counts returns the rejections (by cause) and duplicate IVs seen so far.
func (c *client) counts() (rejects int, dupIVs int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.rejects), c.dupIVs
}

func strconvQuote(s string) string {
	if len(s) > 60 {
		s = s[:60] + "..."
	}
	return "\"" + strings.ReplaceAll(strings.ReplaceAll(s, "\r", `\r`), "\n", `\n`) + "\""
}

// start serves a new module over net.Pipe and returns it with a client on
// the other end. Cleanup stops both.
func start(t testing.TB, cfg Config) (*Module, *client) {
	t.Helper()
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	a, b := net.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- m.Serve(ctx, a) }()
	c := newClient(t, b)
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-served:
			if !errors.Is(err, context.Canceled) && !errors.Is(err, ErrClosed) {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(hang):
			t.Error("Serve did not return")
		}
		m.Close()
		a.Close()
	})
	return m, c
}

// waitStats waits for cond on m's Stats.
func waitStats(t testing.TB, m *Module, cond func(Stats) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	if err := m.WaitFor(ctx, cond); err != nil {
		t.Fatal(err)
	}
}

func randomSecret(t testing.TB) c2c.Secret {
	var k c2c.Secret
	if _, err := rand.Read(k[:]); err != nil {
		t.Fatal(err)
	}
	return k
}

var pairRe = regexp.MustCompile(`\+USECC2C: ([03]),0,"([0-9A-Fa-f]{32})"(?:,"([0-9A-Fa-f]{32})")?(?:,"([0-9A-Fa-f]{32})")?`)

// parseKeys reads the secrets of a pairing or rekey answer: the key, the
// hmac_key (zero for V1) and the confirmation tag (zero without one).
func parseKeys(t testing.TB, resp string, te c2c.Secret) (*c2c.Secrets, c2c.Secret) {
	t.Helper()
	sm := pairRe.FindStringSubmatch(resp)
	if sm == nil {
		t.Fatalf("no +USECC2C keys in %q", resp)
	}
	s := &c2c.Secrets{TESecret: te}
	var tag c2c.Secret
	var err error
	if s.Key, err = c2c.ParseSecret(sm[2]); err != nil {
		t.Fatal(err)
	}
	if sm[3] != "" {
		if s.HMACKey, err = c2c.ParseSecret(sm[3]); err != nil {
			t.Fatal(err)
		}
	}
	if sm[4] != "" {
		if tag, err = c2c.ParseSecret(sm[4]); err != nil {
			t.Fatal(err)
		}
	}
	return s, tag
}

// pair pairs the module (V1 or V2 as it is configured) and confirms a V2
// pairing, and returns the host's secrets.
func pair(t testing.TB, c *client) *c2c.Secrets {
	t.Helper()
	te := randomSecret(t)
	resp := c.cmd(`AT+USECC2C=0,"` + te.Hex() + `"`)
	if !strings.HasSuffix(resp, "\r\nOK\r\n") {
		t.Fatalf("pair: %q", resp)
	}
	s, tag := parseKeys(t, resp, te)
	if s.Version() == c2c.V2 {
		enc, err := c2c.SealConfirmation(s, &tag, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.cmd(`AT+USECC2C=4,"` + te.Hex() + `","` + enc + `"`); got != "\r\nOK\r\n" {
			t.Fatalf("confirm: %q", got)
		}
	}
	return s
}

// testSecrets returns fixed-looking random secrets of version v.
func testSecrets(t testing.TB, v c2c.Version) *c2c.Secrets {
	s := &c2c.Secrets{TESecret: randomSecret(t), Key: randomSecret(t)}
	if v == c2c.V2 {
		s.HMACKey = randomSecret(t)
	}
	return s
}
