package bridge

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/c2cbridge/c2cbridge/counters"
	c2c "github.com/c2cbridge/c2cbridge/crypto"
	"github.com/c2cbridge/c2cbridge/modemsim"
)

// hang guards a wait that should end quickly: it only stops a broken test.
const hang = 30 * time.Second

func newSecrets(t testing.TB, v c2c.Version) *c2c.Secrets {
	t.Helper()
	return c2c.RandomSecrets(v)
}

// rig is a bridge between an in-memory application end and modemsim.
type rig struct {
	t      *testing.T
	mod    *modemsim.Module
	b      *Bridge
	app    net.Conn // the application's end
	modem  net.Conn // the bridge's modem end
	cancel context.CancelFunc
	runErr chan error
	lines  chan string
	raw    *rawReader
	logs   *syncBuffer
	mu     sync.Mutex
	sim    net.Conn // the module's end of the current cable
}

// unplug cuts the current cable between bridge and module, as a USB
// adapter that drops off the bus; the module keeps its session.
func (r *rig) unplug() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sim.Close()
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type rigOpts struct {
	version  c2c.Version
	modCfg   func(*modemsim.Config)
	brCfg    func(*Config)
	wrongTE  bool
	rawApp   bool                     // read the application end as raw bytes instead of lines
	noReader bool                     // nobody reads the application end (a stalled application)
	modem    func(net.Conn) ModemConn // wraps the bridge's first modem end
}

func newRig(t *testing.T, o rigOpts) *rig {
	t.Helper()
	if o.version == 0 {
		o.version = c2c.V2
	}
	s := newSecrets(t, o.version)
	mcfg := modemsim.Config{Secrets: s, EscapeGuard: 100 * time.Millisecond}
	if o.modCfg != nil {
		o.modCfg(&mcfg)
	}
	mod, err := modemsim.New(mcfg)
	if err != nil {
		t.Fatal(err)
	}
	appEnd, bridgeApp := net.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	r := &rig{t: t, mod: mod, app: appEnd, runErr: make(chan error, 1)}
	// connect makes a new "cable" to the module, once the last one is gone.
	var simDone chan struct{}
	connect := func() net.Conn {
		if simDone != nil {
			<-simDone
		}
		modemEnd, simEnd := net.Pipe()
		done := make(chan struct{})
		go func() {
			defer close(done)
			mod.Serve(ctx, simEnd)
		}()
		r.mu.Lock()
		r.sim = simEnd
		r.mu.Unlock()
		simDone = done
		return modemEnd
	}
	modemEnd := connect()
	r.modem = modemEnd
	bs := *s
	if o.wrongTE {
		bs.TESecret[0] ^= 1
	}
	logs := &syncBuffer{}
	r.logs = logs
	cfg := Config{Secrets: &bs, Device: "sim", ProbeTimeout: time.Second, OpenTimeout: 5 * time.Second,
		CommandTimeout: 5 * time.Second, EscapeGuard: 100 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Dial: func(context.Context) (ModemConn, error) { return connect(), nil }}
	if o.brCfg != nil {
		o.brCfg(&cfg)
	}
	var bridgeModem ModemConn = modemEnd
	if o.modem != nil {
		bridgeModem = o.modem(modemEnd)
	}
	b, err := New(cfg, bridgeApp, bridgeModem)
	if err != nil {
		t.Fatal(err)
	}
	r.b = b
	bctx, bcancel := context.WithCancel(context.Background())
	r.cancel = bcancel
	go func() { r.runErr <- b.Run(bctx) }()
	switch {
	case o.noReader:
	case o.rawApp:
		r.raw = newRawReader(appEnd)
	default:
		r.lines = make(chan string, 1024)
		go func() {
			defer close(r.lines)
			sc := bufio.NewScanner(appEnd)
			sc.Split(scanCRLF)
			for sc.Scan() {
				if l := sc.Text(); l != "" {
					r.lines <- l
				}
			}
		}()
	}
	t.Cleanup(func() {
		bcancel()
		select {
		case <-r.runErr:
		case <-time.After(hang):
			t.Error("bridge did not stop")
		}
		appEnd.Close()
		bridgeApp.Close()
		cancel()
		mod.Close()
		r.mu.Lock()
		r.sim.Close()
		r.mu.Unlock()
		<-simDone
		if t.Failed() {
			t.Logf("bridge log:\n%s", logs.String())
		}
	})
	return r
}

func scanCRLF(data []byte, atEOF bool) (int, []byte, error) {
	for i, c := range data {
		if c == '\r' || c == '\n' {
			return i + 1, data[:i], nil
		}
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}

// waitOpen waits for the session to be open.
func (r *rig) waitOpen() {
	r.t.Helper()
	deadline := time.Now().Add(hang)
	for r.b.Stats().State != StateOpen {
		select {
		case err := <-r.runErr:
			r.t.Fatalf("bridge stopped: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("session not open; state %s", r.b.Stats().State)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (r *rig) send(s string) {
	r.t.Helper()
	r.app.SetWriteDeadline(time.Now().Add(hang))
	if _, err := r.app.Write([]byte(s)); err != nil {
		r.t.Fatalf("application write: %v", err)
	}
}

// expect reads lines until one equals want, returning the lines before it.
func (r *rig) expect(want string) []string {
	r.t.Helper()
	var before []string
	timer := time.NewTimer(hang)
	defer timer.Stop()
	for {
		select {
		case l, ok := <-r.lines:
			if !ok {
				r.t.Fatalf("application end closed waiting for %q (got %q)", want, before)
			}
			if l == want {
				return before
			}
			before = append(before, l)
		case <-timer.C:
			r.t.Fatalf("no %q within %v (got %q)", want, hang, before)
		}
	}
}

// rawReader collects everything the application end receives.
type rawReader struct {
	mu   sync.Mutex
	cond *sync.Cond
	buf  []byte
	err  error
}

func newRawReader(c io.Reader) *rawReader {
	r := &rawReader{}
	r.cond = sync.NewCond(&r.mu)
	go func() {
		b := make([]byte, 64<<10)
		for {
			n, err := c.Read(b)
			r.mu.Lock()
			r.buf = append(r.buf, b[:n]...)
			if err != nil {
				r.err = err
			}
			r.cond.Broadcast()
			r.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return r
}

// waitLen waits until n bytes arrived and returns them.
func (r *rawReader) waitLen(t *testing.T, n int) []byte {
	t.Helper()
	timer := time.AfterFunc(hang, func() {
		r.mu.Lock()
		r.err = errors.New("hang guard")
		r.cond.Broadcast()
		r.mu.Unlock()
	})
	defer timer.Stop()
	r.mu.Lock()
	defer r.mu.Unlock()
	for len(r.buf) < n && r.err == nil {
		r.cond.Wait()
	}
	if len(r.buf) < n {
		t.Fatalf("got %d of %d bytes: %v", len(r.buf), n, r.err)
	}
	return bytes.Clone(r.buf[:n])
}

func (r *rawReader) take(n int) []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := bytes.Clone(r.buf[:n])
	r.buf = r.buf[n:]
	return out
}

func versions(t *testing.T, f func(t *testing.T, v c2c.Version)) {
	for _, v := range []c2c.Version{c2c.V1, c2c.V2} {
		t.Run(v.String(), func(t *testing.T) { f(t, v) })
	}
}

func TestATExchange(t *testing.T) {
	versions(t, func(t *testing.T, v c2c.Version) {
		r := newRig(t, rigOpts{version: v})
		r.waitOpen()
		r.send("AT\r")
		r.expect("OK")
		r.send("AT+CGMI\r")
		if got := r.expect("OK"); len(got) != 1 || got[0] != "u-blox" {
			t.Fatalf("AT+CGMI: %q", got)
		}
		r.send("AT+TURC=3\r")
		if got := r.expect("OK"); strings.Join(got, "|") != "+CREG: 1|RING|+CREG: 1" {
			t.Fatalf("URCs: %q", got)
		}
		r.send("AT+BOGUS\r")
		r.expect("ERROR")
		r.send("AT+TBIG=1040\r")
		got := r.expect("OK")
		if len(got) != 1 || len(got[0]) != 1040 {
			t.Fatalf("1040-byte answer arrived as %d lines", len(got))
		}
		st := r.mod.Stats()
		if st.PlainBytesInSession != 0 {
			t.Fatalf("modemsim received %d plain-text bytes in the session", st.PlainBytesInSession)
		}
		if !st.InSession || st.Opens != 1 {
			t.Fatalf("modemsim: in session %v, opens %d", st.InSession, st.Opens)
		}
		bs := r.b.Stats()
		if bs.Counters[counters.FramesDown] == 0 || bs.Counters[counters.MACFailures] != 0 || bs.Version != v {
			t.Fatalf("bridge stats %+v", bs)
		}
	})
}

func TestShutdownClosesSession(t *testing.T) {
	versions(t, func(t *testing.T, v c2c.Version) {
		r := newRig(t, rigOpts{version: v})
		r.waitOpen()
		r.send("AT\r")
		r.expect("OK")
		r.cancel()
		select {
		case err := <-r.runErr:
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
		case <-time.After(hang):
			t.Fatal("Run did not return")
		}
		r.runErr <- nil // for the cleanup
		st := r.mod.Stats()
		if st.InSession || st.Closes != 1 {
			t.Fatalf("after shutdown: in session %v, closes %d", st.InSession, st.Closes)
		}
	})
}

func TestWrongTESecret(t *testing.T) {
	r := newRig(t, rigOpts{wrongTE: true})
	select {
	case err := <-r.runErr:
		if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "c2cbridge pair") {
			t.Fatalf("Run: %v", err)
		}
		r.runErr <- err
	case <-time.After(hang):
		t.Fatal("Run did not fail")
	}
}

func TestNoAnswer(t *testing.T) {
	app, bridgeApp := net.Pipe()
	defer app.Close()
	modem, silent := net.Pipe()
	defer silent.Close()
	go io.Copy(io.Discard, silent)
	b, err := New(Config{Secrets: newSecrets(t, c2c.V2), Device: "/dev/ttyX", ProbeTimeout: 50 * time.Millisecond}, bridgeApp, modem)
	if err != nil {
		t.Fatal(err)
	}
	err = b.Run(context.Background())
	if !errors.Is(err, ErrNoAnswer) || !strings.Contains(err.Error(), "/dev/ttyX") {
		t.Fatalf("Run: %v", err)
	}
}

func TestSessionStillOpen(t *testing.T) {
	// A previous run left the session open: the bridge finds it with an
	// encrypted AT and carries on without another open.
	s := newSecrets(t, c2c.V2)
	mod, _ := modemsim.New(modemsim.Config{Secrets: s})
	defer mod.Close()
	for run := range 2 {
		modemEnd, simEnd := net.Pipe()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); mod.Serve(ctx, simEnd) }()
		app, bridgeApp := net.Pipe()
		b, _ := New(Config{Secrets: s, Device: "sim", ProbeTimeout: 300 * time.Millisecond}, bridgeApp, modemEnd)
		bctx, bcancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() { errc <- b.Run(bctx) }()
		for b.Stats().State != StateOpen {
			time.Sleep(5 * time.Millisecond)
		}
		if run == 0 {
			// Simulate a crash: stop serving without closing the session.
			cancel()
			<-done
			bcancel()
			modemEnd.Close()
			<-errc
		} else {
			bcancel()
			<-errc
			cancel()
			<-done
		}
		app.Close()
	}
	st := mod.Stats()
	if st.Opens != 1 {
		t.Fatalf("opens %d, want 1 (the second run should carry on)", st.Opens)
	}
}

func TestDataModeEcho(t *testing.T) {
	versions(t, func(t *testing.T, v c2c.Version) {
		r := newRig(t, rigOpts{version: v, rawApp: true})
		r.waitOpen()
		r.send("ATD*99#\r")
		got := string(r.raw.waitLen(t, len("\r\nCONNECT\r\n")))
		if !strings.Contains(got, "CONNECT") {
			t.Fatalf("dial answered %q", got)
		}
		r.raw.take(len(got))
		const n = 4 << 20
		data := make([]byte, n)
		rand.Read(data)
		go func() {
			for p := data; len(p) > 0; {
				k := min(len(p), 8192)
				r.app.Write(p[:k])
				p = p[k:]
			}
		}()
		back := r.raw.waitLen(t, n)
		if !bytes.Equal(back, data) {
			t.Fatal("data came back different")
		}
		if st := r.mod.Stats(); st.PlainBytesInSession != 0 {
			t.Fatalf("plain bytes in session: %d", st.PlainBytesInSession)
		}
		// Shutting down in data mode ends the call (+++, ATH), then closes.
		r.cancel()
		if err := <-r.runErr; err != nil {
			t.Fatalf("Run: %v", err)
		}
		r.runErr <- nil
		if st := r.mod.Stats(); st.InSession || st.DataMode || st.Closes != 1 || st.Escapes != 1 {
			t.Fatalf("after shutdown in data mode: %+v", st)
		}
	})
}

func TestNoUnauthenticatedBytes(t *testing.T) {
	versions(t, func(t *testing.T, v c2c.Version) {
		r := newRig(t, rigOpts{version: v, rawApp: true})
		r.waitOpen()
		r.mod.InjectPlain([]byte("\r\nOK\r\n"))
		r.mod.InjectPlain([]byte("\r\nRING\r\n"))
		// A forged frame: right format, wrong key.
		forger := newSecrets(t, v)
		fs, _ := c2c.NewSealer(forger, rand.Reader, 255)
		forged, _ := fs.SealFrame(nil, []byte("\r\nFORGED\r\n"))
		r.mod.InjectPlain(forged)
		r.mod.SendURC("+AUTHENTIC: 1")
		want := "\r\n+AUTHENTIC: 1\r\n"
		got := r.raw.waitLen(t, len(want))
		if string(got) != want {
			t.Fatalf("application received %q, want only %q", got, want)
		}
		time.Sleep(50 * time.Millisecond)
		r.raw.mu.Lock()
		extra := len(r.raw.buf) - len(want)
		r.raw.mu.Unlock()
		if extra != 0 {
			t.Fatalf("%d more bytes reached the application", extra)
		}
		st := r.b.Stats()
		if st.Counters[counters.MACFailures] == 0 || st.Counters[counters.StrayBytes] == 0 {
			t.Fatalf("faults not counted: %+v", st)
		}
	})
}

func TestReplayDropped(t *testing.T) {
	r := newRig(t, rigOpts{rawApp: true})
	r.waitOpen()
	r.mod.SendURC("+FIRST: 1")
	want := "\r\n+FIRST: 1\r\n"
	r.raw.waitLen(t, len(want))
	r.raw.take(len(want))
	if !r.mod.ReplayFrame() {
		t.Fatal("nothing to replay")
	}
	r.mod.SendURC("+SECOND: 2")
	want = "\r\n+SECOND: 2\r\n"
	if got := r.raw.waitLen(t, len(want)); string(got) != want {
		t.Fatalf("after a replay the application got %q", got)
	}
	if st := r.b.Stats(); st.Counters[counters.Replays] != 1 {
		t.Fatalf("replays %d", st.Counters[counters.Replays])
	}
}

func TestApplicationUSECC2CRefused(t *testing.T) {
	r := newRig(t, rigOpts{})
	r.waitOpen()
	r.send("at+usecc2c=2\r")
	r.expect("ERROR")
	r.send("AT+CMEE=2;+USECC2C=2\r")
	r.expect("ERROR")
	r.send("AT\r")
	r.expect("OK")
	if st := r.mod.Stats(); !st.InSession || st.Closes != 0 {
		t.Fatalf("the application closed the session: %+v", st)
	}
	if st := r.b.Stats(); st.Counters[counters.RefusedCommands] != 2 {
		t.Fatalf("refused %d", st.Counters[counters.RefusedCommands])
	}
}

func TestRekey(t *testing.T) {
	for _, mode := range []modemsim.RekeyMode{modemsim.RekeySame, modemsim.RekeyNew} {
		versions(t, func(t *testing.T, v c2c.Version) {
			var saves []string
			var mu sync.Mutex
			r := newRig(t, rigOpts{version: v,
				modCfg: func(c *modemsim.Config) { c.Rekey = mode },
				brCfg: func(c *Config) {
					c.RekeyInterval = 20 * time.Millisecond
					c.SaveSecrets = func(cur, prev *c2c.Secrets) error {
						mu.Lock()
						defer mu.Unlock()
						saves = append(saves, cur.Fingerprint())
						return nil
					}
				}})
			r.waitOpen()
			const rounds = 10
			for i := 0; r.mod.Stats().Rekeys < rounds; i++ {
				if i > 100000 {
					t.Fatal("rekeys do not happen")
				}
				r.send("AT+CGMI\r")
				if got := r.expect("OK"); len(got) != 1 || got[0] != "u-blox" {
					t.Fatalf("answer %d during rekeys: %q", i, got)
				}
			}
			if st := r.mod.Stats(); st.PlainBytesInSession != 0 {
				t.Fatalf("plain bytes in session: %d", st.PlainBytesInSession)
			}
			mu.Lock()
			defer mu.Unlock()
			if mode == modemsim.RekeyNew {
				if len(saves) < 2*rounds-2 {
					t.Fatalf("%d key saves for %d rekeys", len(saves), rounds)
				}
				if r.mod.Secrets().Fingerprint() != r.b.Stats().Fingerprint && r.b.Stats().State == StateOpen {
					t.Fatal("bridge and module disagree on the secrets")
				}
			} else if len(saves) != 0 {
				t.Fatalf("saved keys on a same-secrets rekey")
			}
		})
	}
}

func TestMain(m *testing.M) {
	os.Exit(m.Run())
}
