package bridge

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/c2cbridge/c2cbridge/config"
	"github.com/c2cbridge/c2cbridge/counters"
	c2c "github.com/c2cbridge/c2cbridge/crypto"
	"github.com/c2cbridge/c2cbridge/modemsim"
)

// runOnce runs one bridge against mod with the key file at path until stop
// is closed or Run ends, and returns Run's error.
func runOnce(t *testing.T, mod *modemsim.Module, path string, rekey time.Duration, save func(cur, prev *c2c.Secrets) error, stop <-chan struct{}) error {
	t.Helper()
	kf, err := config.ReadKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	modemEnd, simEnd := net.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() { defer close(served); mod.Serve(ctx, simEnd) }()
	app, bridgeApp := net.Pipe()
	go io.Copy(io.Discard, app)
	b, err := New(Config{Secrets: &kf.Secrets, Previous: kf.Previous, Device: "sim", ProbeTimeout: time.Second,
		RekeyInterval: rekey, SaveSecrets: save, Logger: slog.New(slog.DiscardHandler)}, bridgeApp, modemEnd)
	if err != nil {
		t.Fatal(err)
	}
	bctx, bcancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- b.Run(bctx) }()
	select {
	case err = <-errc:
	case <-stop:
		// A crash: the process is gone at once, nothing is closed in order.
		modemEnd.Close()
		err = <-errc
	case <-time.After(hang):
		t.Fatal("hang")
	}
	bcancel()
	cancel()
	<-served
	app.Close()
	simEnd.Close()
	return err
}

func TestCrashBetweenKeyFileWrites(t *testing.T) {
	versions(t, func(t *testing.T, v c2c.Version) {
		s := newSecrets(t, v)
		mod, err := modemsim.New(modemsim.Config{Secrets: s, Rekey: modemsim.RekeyNew})
		if err != nil {
			t.Fatal(err)
		}
		defer mod.Close()
		path := filepath.Join(t.TempDir(), "keys.yaml")
		if err := config.WriteKeyFile(path, &config.KeyFile{Secrets: *s}); err != nil {
			t.Fatal(err)
		}
		// First run: the first write (new secrets + previous) lands, then the
		// process dies before the second.
		stop := make(chan struct{})
		var writes atomic.Int32
		save := func(cur, prev *c2c.Secrets) error {
			if prev == nil {
				close(stop)
				return errors.New("killed")
			}
			writes.Add(1)
			return config.WriteKeyFile(path, &config.KeyFile{Secrets: *cur, Previous: prev})
		}
		runOnce(t, mod, path, 20*time.Millisecond, save, stop)
		if writes.Load() != 1 {
			t.Fatalf("%d first writes", writes.Load())
		}
		kf, err := config.ReadKeyFile(path)
		if err != nil || kf.Previous == nil {
			t.Fatalf("after the crash the key file should hold both generations: %v", err)
		}
		// Second run: it opens a session, confirms the new generation and
		// drops previous from the file.
		saved := make(chan struct{}, 1)
		save2 := func(cur, prev *c2c.Secrets) error {
			err := config.WriteKeyFile(path, &config.KeyFile{Secrets: *cur, Previous: prev})
			saved <- struct{}{}
			return err
		}
		stop2 := make(chan struct{})
		go func() { <-saved; close(stop2) }()
		err = runOnce(t, mod, path, 0, save2, stop2)
		if err != nil && !errors.Is(err, ErrModemLost) {
			t.Fatalf("second run: %v", err)
		}
		kf, err = config.ReadKeyFile(path)
		if err != nil || kf.Previous != nil {
			t.Fatalf("the confirmed file still holds previous: %v", err)
		}
		if kf.Secrets.Fingerprint() != mod.Secrets().Fingerprint() {
			t.Fatal("the key file does not hold the module's secrets")
		}
		if mod.Stats().Opens < 2 {
			t.Fatal("the second run did not open a session")
		}
	})
}

func TestWrongKeyDetectedAtStart(t *testing.T) {
	s := newSecrets(t, c2c.V2)
	mod, _ := modemsim.New(modemsim.Config{Secrets: s})
	defer mod.Close()
	wrong := *s
	wrong.Key[0] ^= 1
	wrong.HMACKey[0] ^= 1
	path := filepath.Join(t.TempDir(), "keys.yaml")
	config.WriteKeyFile(path, &config.KeyFile{Secrets: wrong})
	err := runOnce(t, mod, path, 0, nil, nil)
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "pair again") {
		t.Fatalf("a key file with the wrong key: %v", err)
	}
}

func TestNoGoroutineLeft(t *testing.T) {
	base := runtime.NumGoroutine()
	t.Run("session", func(t *testing.T) {
		r := newRig(t, rigOpts{brCfg: func(c *Config) { c.RekeyInterval = 30 * time.Millisecond; c.Keepalive = 50 * time.Millisecond }})
		r.waitOpen()
		r.send("AT\r")
		r.expect("OK")
		r.unplug()
		waitFor(t, "the reconnect", func() bool { return r.b.Stats().Counters[counters.Reconnects] == 1 && r.b.Stats().State == StateOpen })
		waitFor(t, "a rekey", func() bool { return r.mod.Stats().Rekeys > 0 && r.b.Stats().State == StateOpen })
	})
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines left (%d before):\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestOpenBackoff: after a loss the first reopen is immediate, later ones
// wait twice as long each time (a reboot loop must not burn the module's
// limited opens), and a session that lasted resets the backoff.
func TestOpenBackoff(t *testing.T) {
	app, _ := net.Pipe()
	modem, _ := net.Pipe()
	b, err := New(Config{Secrets: newSecrets(t, c2c.V2), ProbeTimeout: time.Second, Logger: slog.New(slog.DiscardHandler)}, app, modem)
	if err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if !b.waitBackoff(cancelled) {
		t.Fatal("the first reopen waited")
	}
	var waits []time.Duration
	for range 4 {
		before := time.Now()
		b.waitBackoff(cancelled) // would wait: returns at once on the cancelled context
		waits = append(waits, b.ctrl.nextOpen.Sub(before).Round(10*time.Millisecond))
	}
	want := []time.Duration{firstBackoff, 2 * firstBackoff, 4 * firstBackoff, 8 * firstBackoff}
	for i := range want {
		if waits[i] != want[i] {
			t.Fatalf("waits %v, want %v", waits, want)
		}
	}
	b.ctrl.nextOpen = time.Now().Add(-2 * stableSession) // a long session since
	if !b.waitBackoff(cancelled) {
		t.Fatal("the backoff did not start over after a stable session")
	}
}

// TestStartEndsCallLeftByCrash: a bridge killed mid-call leaves the module
// in a session and in data mode, where every probe is call data. The next
// bridge escapes, hangs up and carries on with the session.
func TestStartEndsCallLeftByCrash(t *testing.T) {
	versions(t, func(t *testing.T, v c2c.Version) {
		s := newSecrets(t, v)
		mod, err := modemsim.New(modemsim.Config{Secrets: s, EscapeGuard: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		defer mod.Close()
		run := func() (app net.Conn, crash func()) {
			modemEnd, simEnd := net.Pipe()
			ctx, cancel := context.WithCancel(context.Background())
			served := make(chan struct{})
			go func() { defer close(served); mod.Serve(ctx, simEnd) }()
			app, bridgeApp := net.Pipe()
			b, err := New(Config{Secrets: s, Device: "sim", ProbeTimeout: 500 * time.Millisecond,
				EscapeGuard: 100 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)}, bridgeApp, modemEnd)
			if err != nil {
				t.Fatal(err)
			}
			errc := make(chan error, 1)
			go func() { errc <- b.Run(context.Background()) }()
			return app, func() {
				modemEnd.Close() // the process is gone: no shutdown reaches the module
				if err := <-errc; !errors.Is(err, ErrModemLost) {
					t.Errorf("run: %v", err)
				}
				cancel()
				<-served
				simEnd.Close()
				app.Close()
				bridgeApp.Close()
			}
		}
		app, crash := run()
		app.SetDeadline(time.Now().Add(hang))
		app.Write([]byte("ATD*99#\r"))
		buf := make([]byte, 64)
		n, _ := io.ReadAtLeast(app, buf, len("\r\nCONNECT\r\n"))
		if !strings.Contains(string(buf[:n]), "CONNECT") {
			t.Fatalf("dial: %q", buf[:n])
		}
		crash()
		if st := mod.Stats(); !st.InSession || !st.DataMode {
			t.Fatalf("the crash should leave a call in a session: %+v", st)
		}
		app, crash = run()
		defer crash()
		app.SetDeadline(time.Now().Add(hang))
		app.Write([]byte("AT+CGMI\r"))
		var got string
		for !strings.Contains(got, "OK") {
			n, err := app.Read(buf)
			if err != nil {
				t.Fatalf("after the restart: %v (got %q)", err, got)
			}
			got += string(buf[:n])
		}
		if !strings.Contains(got, "u-blox") {
			t.Fatalf("after the restart: %q", got)
		}
		if st := mod.Stats(); st.DataMode || st.Opens != 1 || st.Escapes != 1 {
			t.Fatalf("module: data mode %v, opens %d, escapes %d; want the call ended in the first session", st.DataMode, st.Opens, st.Escapes)
		}
	})
}
