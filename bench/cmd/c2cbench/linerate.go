//go:build linux

package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync/atomic"
	"time"

	c2c "github.com/c2cbridge/c2cbridge/crypto"
)

// Line-rate workloads.
const (
	bulkChunk  = 4 << 10 // one application write of the bulk stream
	stormChunk = 10      // one application write of the storm
	idleGap    = 100 * time.Millisecond
	idleWarm   = 3
	idleN      = 20
)

// lineLimit returns what a line of baud bits a second (8N1: baud/10 bytes)
// carries in application bytes when every frame is a full V2 host frame:
// 255 plaintext bytes in 294 bytes on the line.
func lineLimit(baud int) float64 {
	full := c2c.MaxHostPlaintext
	return float64(baud) / 10 * float64(full) / float64(c2c.FrameLen(c2c.V2, full))
}

// wireTime returns how long a V2 frame of n plaintext bytes takes on a
// line of baud bits a second.
func wireTime(baud, n int) time.Duration {
	return time.Duration(c2c.FrameLen(c2c.V2, n)) * 10 * time.Second / time.Duration(baud)
}

// lineRun streams application bytes in writes of chunk bytes in data mode
// to a simulated module on an emulated line of baud, for the window, and
// returns the goodput of the bytes echoed back to the application (bytes
// a second), counted from the first write. The application talks to the
// bridge, or (withBridge false) straight to the simulated module in plain
// text: that measures the emulated line itself.
func (e *env) lineRun(ctx context.Context, baud, chunk int, withBridge bool) (float64, error) {
	name := fmt.Sprintf("line-%d-%d-direct", baud, chunk)
	if withBridge {
		name = fmt.Sprintf("line-%d-%d-bridge", baud, chunk)
	}
	dir, err := e.runDir(name)
	if err != nil {
		return 0, err
	}
	// The call is left up with data in flight: ending it would only wait
	// for the line to drain. Kill the processes, as their shutdown is not
	// measured here.
	a, closeAll, err := e.appOnLine(ctx, dir, baud, withBridge, 0)
	if err != nil {
		return 0, err
	}
	defer closeAll()
	if _, err := a.roundTrip("ATD*99#\r", "CONNECT\r\n"); err != nil {
		return 0, fmt.Errorf("line %d: ATD: %w", baud, err)
	}

	// Data without '+', so that no escape is ever considered.
	data := make([]byte, 64<<10)
	r := rand.NewChaCha8([32]byte{byte(chunk)})
	r.Read(data)
	for i, c := range data {
		if c == '+' {
			data[i] = '-'
		}
	}
	var echoed atomic.Int64
	stop := make(chan struct{})
	readErr := make(chan error, 1)
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, err := a.rw.Read(buf)
			echoed.Add(int64(n))
			if err != nil {
				readErr <- err
				return
			}
		}
	}()
	t0 := time.Now()
	go func() {
		for off := 0; ; off = (off + chunk) % (len(data) - chunk) {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := a.rw.Write(data[off : off+chunk]); err != nil {
				return
			}
		}
	}()
	select {
	case <-time.After(e.opt.window):
	case err := <-readErr:
		close(stop)
		return 0, fmt.Errorf("line %d: reading the echo: %w", baud, err)
	case <-ctx.Done():
		close(stop)
		return 0, ctx.Err()
	}
	got := echoed.Load()
	elapsed := time.Since(t0)
	close(stop)
	return float64(got) / elapsed.Seconds(), nil
}

// idleRun measures isolated AT\r round trips on an idle line of baud,
// through the bridge or (withBridge false) straight to the simulated
// module in plain text, and returns their median.
func (e *env) idleRun(ctx context.Context, baud int, withBridge bool) (time.Duration, error) {
	name := fmt.Sprintf("idle-%d-direct", baud)
	if withBridge {
		name = fmt.Sprintf("idle-%d-bridge", baud)
	}
	dir, err := e.runDir(name)
	if err != nil {
		return 0, err
	}
	a, closeAll, err := e.appOnLine(ctx, dir, baud, withBridge, stopGrace)
	if err != nil {
		return 0, err
	}
	defer closeAll()
	rtts, err := roundTrips(a, idleWarm, idleN, idleGap)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", name, err)
	}
	return percentile(rtts, 50), nil
}

// appOnLine starts a simulated module on an emulated line of baud in dir
// and, withBridge, a bridge in front of it, and opens the application end
// (the bridge's tty, or the module's in plain text). stop closes the
// application and stops the bridge at once and the module within simGrace.
func (e *env) appOnLine(ctx context.Context, dir string, baud int, withBridge bool, simGrace time.Duration) (a *app, stop func(), err error) {
	var stops []func()
	stop = func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	defer func() {
		if err != nil {
			stop()
		}
	}()
	sim, modem, err := e.startSim(ctx, simSpec{dir: dir, v: c2c.V2, baud: baud})
	if err != nil {
		return nil, nil, err
	}
	stops = append(stops, func() { sim.stop(simGrace) })
	appPath := modem
	if withBridge {
		br, err := e.startBridge(ctx, bridgeSpec{dir: dir, device: modem, keys: filepath.Join(dir, "keys.yaml"),
			baud: baud, pace: e.opt.pace})
		if err != nil {
			return nil, nil, err
		}
		stops = append(stops, func() { br.stop(0) })
		appPath = ttyLink(dir)
	}
	a, err = openApp(appPath)
	if err != nil {
		return nil, nil, err
	}
	stops = append(stops, func() { a.Close() })
	return a, stop, nil
}
