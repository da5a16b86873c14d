//go:build linux

package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"time"

	"github.com/c2cbridge/c2cbridge/bench/internal/ptypair"
	"github.com/c2cbridge/c2cbridge/bench/internal/sink"
	c2c "github.com/c2cbridge/c2cbridge/crypto"
)

// appChunk is the size of one application write in the throughput runs.
const appChunk = 64 << 10

// payload is the random stream every throughput run sends, and its hash.
type payload struct {
	data []byte
	sum  [sha256.Size]byte
}

func newPayload(size int64, seed uint64) *payload {
	var key [32]byte
	key[0] = byte(seed)
	r := rand.NewChaCha8(key)
	p := &payload{data: make([]byte, size)}
	r.Read(p.data)
	p.sum = sha256.Sum256(p.data)
	return p
}

// tpResult is one throughput run.
type tpResult struct {
	mbps    float64       // application bytes per second / 1e6; 0 if the hash differed
	hashOK  bool          //
	elapsed time.Duration // first application write to the last byte at the sink
	cpu     time.Duration // CPU of the relay process over the transfer
	hwm     int64         // VmHWM of the relay process after the transfer
	self    time.Duration // CPU of this process (application and sink) over the transfer
	busy    float64       // share of all CPUs busy over the transfer (everything on the machine)
	stray   uint64        // bytes outside frames at the sink (bridge only)
	reject  uint64        // frames the sink rejected (bridge only)
}

// relay is the process between the application and the sink in a
// throughput run.
type relayKind struct {
	name string
	v    c2c.Version // 0: socat
}

// throughputRun sends the payload from the application end through the
// relay into a sink, as the package doc of sink describes.
func (e *env) throughputRun(ctx context.Context, k relayKind, pl *payload, hook func(*proc) func()) (tpResult, error) {
	dir, err := e.runDir("throughput-" + k.name)
	if err != nil {
		return tpResult{}, err
	}
	var secrets *c2c.Secrets
	if k.v != 0 {
		secrets = e.secrets[k.v]
	}
	sk, err := sink.New(sink.Config{Secrets: secrets, Want: int64(len(pl.data))})
	if err != nil {
		return tpResult{}, err
	}

	var relay *proc
	var appPath string
	if k.v == 0 {
		a, b := filepath.Join(dir, "A"), filepath.Join(dir, "B")
		if k == relayGo {
			relay, err = e.startGoRelay(ctx, a, b)
		} else {
			relay, err = e.startSocat(ctx, "pty,raw,echo=0,link="+a, "pty,raw,echo=0,link="+b, a, b)
		}
		if err != nil {
			return tpResult{}, err
		}
		defer relay.stop(stopGrace)
		end, err := ptypair.OpenTTY(b)
		if err != nil {
			return tpResult{}, err
		}
		defer end.Close()
		rw, err := ptypair.Raw(end)
		if err != nil {
			return tpResult{}, err
		}
		go sk.Serve(rw)
		appPath = a
	} else {
		uart, err := ptypair.Open(filepath.Join(dir, "ttyUART0"))
		if err != nil {
			return tpResult{}, err
		}
		defer uart.Close()
		rw, err := ptypair.Raw(uart.Master)
		if err != nil {
			return tpResult{}, err
		}
		go sk.Serve(rw)
		keys, err := e.writeKeys(dir, k.v)
		if err != nil {
			return tpResult{}, err
		}
		relay, err = e.startBridge(ctx, bridgeSpec{dir: dir, device: filepath.Join(dir, "ttyUART0"), keys: keys})
		if err != nil {
			return tpResult{}, err
		}
		// SIGTERM: the bridge ends the call and closes the session; the
		// sink answers every step.
		defer relay.stop(stopGrace)
		appPath = ttyLink(dir)
	}

	a, err := openApp(appPath)
	if err != nil {
		return tpResult{}, err
	}
	defer a.Close()
	if _, err := a.roundTrip("ATD*99#\r", "CONNECT\r\n"); err != nil {
		return tpResult{}, fmt.Errorf("%s: ATD: %w", k.name, err)
	}

	var stopHook func()
	if hook != nil {
		stopHook = hook(relay)
	}
	cpu0, err := relay.cpu()
	if err != nil {
		return tpResult{}, err
	}
	self0, sys0 := selfCPU(), readSystemCPU()
	t0 := time.Now()
	wrote := make(chan error, 1)
	go func() {
		for p := pl.data; len(p) > 0; {
			n, err := a.rw.Write(p[:min(len(p), appChunk)])
			if err != nil {
				wrote <- err
				return
			}
			p = p[n:]
		}
		wrote <- nil
	}()
	wctx, cancel := context.WithTimeout(ctx, 120*time.Second)
	defer cancel()
	res, err := sk.Wait(wctx)
	if stopHook != nil {
		stopHook()
	}
	if err != nil {
		return tpResult{}, fmt.Errorf("%s: %w:\n%s", k.name, err, relay.out.tail(10))
	}
	if err := <-wrote; err != nil {
		return tpResult{}, fmt.Errorf("%s: application write: %w", k.name, err)
	}
	cpu1, err := relay.cpu()
	if err != nil {
		return tpResult{}, err
	}
	self1, sys1 := selfCPU(), readSystemCPU()
	_, hwm, err := relay.memory()
	if err != nil {
		return tpResult{}, err
	}
	// Stop the relay while the application is still there: the bridge
	// then ends the call and closes the session on SIGTERM.
	if err := relay.stop(stopGrace); err != nil && k.v != 0 {
		e.logf("%s: shutdown: %v", k.name, err)
	}
	r := tpResult{elapsed: res.Last.Sub(t0), cpu: cpu1 - cpu0, hwm: hwm, self: self1 - self0, busy: sys1.busySince(sys0),
		hashOK: res.Sum == pl.sum, stray: res.Stray, reject: res.Rejected}
	if r.hashOK {
		r.mbps = float64(len(pl.data)) / r.elapsed.Seconds() / 1e6
	}
	return r, nil
}
