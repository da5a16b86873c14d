//go:build linux

package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	c2c "github.com/c2cbridge/c2cbridge/crypto"
)

// Soak workload and sampling.
const (
	soakRekey  = 5 * time.Second
	soakGap    = 10 * time.Millisecond // between the application's commands
	soakSample = time.Second
)

// soakResult is the memory of the bridge over a soak.
type soakResult struct {
	warmHWM  int64 // VmHWM once warm (half the soak, at least one rekey)
	endHWM   int64 // VmHWM at the end
	warmRSS  int64
	endRSS   int64
	quarters [4]int64 // VmRSS at a quarter, half, three quarters and the end
	rekeys   int      // sessions opened after the first
	commands int      // application commands answered
	exitOK   bool
	took     time.Duration
}

// soakRun runs the bridge in front of a simulated module that issues new
// secrets at every rekey (so the key file is rewritten each time), with a
// rekey every 5 s and an application sending AT, ATI and AT+TBIG without
// pause,
// and samples the bridge's memory.
func (e *env) soakRun(ctx context.Context) (soakResult, error) {
	dir, err := e.runDir("soak")
	if err != nil {
		return soakResult{}, err
	}
	sim, modem, err := e.startSim(ctx, simSpec{dir: dir, v: c2c.V2, rekey: "new"})
	if err != nil {
		return soakResult{}, err
	}
	defer sim.stop(stopGrace)
	br, err := e.startBridge(ctx, bridgeSpec{dir: dir, device: modem, keys: filepath.Join(dir, "keys.yaml"), rekey: soakRekey})
	if err != nil {
		return soakResult{}, err
	}
	defer br.stop(stopGrace)
	a, err := openApp(ttyLink(dir))
	if err != nil {
		return soakResult{}, err
	}
	defer a.Close()

	var r soakResult
	t0 := time.Now()
	warmAt := t0.Add(warmPoint(e.opt.soak))
	end := t0.Add(e.opt.soak)
	nextSample := t0
	for i := 0; time.Now().Before(end); i++ {
		if ctx.Err() != nil {
			return r, ctx.Err()
		}
		cmd := "AT\r"
		switch {
		case i%50 == 49:
			cmd = "AT+TBIG=3000\r" // an answer of a dozen frames
		case i%10 == 9:
			cmd = "ATI\r"
		}
		if _, err := a.roundTrip(cmd, "OK\r\n"); err != nil {
			return r, fmt.Errorf("soak: command %d after %v: %w\n%s", i, time.Since(t0).Round(time.Second), err, br.out.tail(10))
		}
		r.commands++
		time.Sleep(soakGap)
		if now := time.Now(); !now.Before(nextSample) {
			nextSample = now.Add(soakSample)
			rss, hwm, err := br.memory()
			if err != nil {
				return r, err
			}
			if r.warmHWM == 0 && !now.Before(warmAt) {
				r.warmHWM, r.warmRSS = hwm, rss
			}
			if q := int(4 * now.Sub(t0) / e.opt.soak); q < 4 && r.quarters[q] == 0 {
				r.quarters[q] = rss
			}
			r.endHWM, r.endRSS = hwm, rss
		}
	}
	r.took = time.Since(t0)
	r.quarters[3] = r.endRSS
	r.rekeys = br.out.count(sessionOpen) - 1
	if r.warmHWM == 0 {
		r.warmHWM, r.warmRSS = r.endHWM, r.endRSS
	}
	if err := br.stop(stopGrace); err != nil {
		e.logf("soak: bridge shutdown: %v", err)
	} else {
		r.exitOK = true
	}
	return r, nil
}
