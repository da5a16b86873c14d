//go:build linux

package main

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	c2c "github.com/c2cbridge/c2cbridge/crypto"
)

// rttWarmup round trips go before the measured ones.
const rttWarmup = 50

// rttBlock is how many round trips go to one relay before the harness
// turns to the other: the two are measured interleaved, so that a change
// in the machine's load hits both alike.
const rttBlock = 100

// rttResult is one round-trip run: percentiles of the measured round trips.
type rttResult struct {
	p50, p99 time.Duration
}

// roundTripRun measures AT\r -> OK from the application end against a
// simulated module behind socat (plain) and one behind the bridge (in a
// session), both set up at once and measured in alternating blocks.
func (e *env) roundTripRun(ctx context.Context) (socat, bridge rttResult, err error) {
	var apps [2]*app
	for i, withBridge := range []bool{false, true} {
		name := "rtt-socat"
		if withBridge {
			name = "rtt-bridge"
		}
		dir, err := e.runDir(name)
		if err != nil {
			return socat, bridge, err
		}
		sim, modem, err := e.startSim(ctx, simSpec{dir: dir, v: c2c.V2})
		if err != nil {
			return socat, bridge, err
		}
		defer sim.stop(stopGrace)
		var relay *proc
		appPath := ttyLink(dir)
		if withBridge {
			relay, err = e.startBridge(ctx, bridgeSpec{dir: dir, device: modem, keys: filepath.Join(dir, "keys.yaml")})
		} else {
			relay, err = e.startSocat(ctx, "pty,raw,echo=0,link="+appPath, "open:"+modem+",raw,echo=0", appPath)
		}
		if err != nil {
			return socat, bridge, err
		}
		defer relay.stop(0)
		a, err := openApp(appPath)
		if err != nil {
			return socat, bridge, err
		}
		defer a.Close()
		if _, err := roundTrips(a, rttWarmup, 0, 0); err != nil {
			return socat, bridge, fmt.Errorf("%s: %w\n%s", name, err, relay.out.tail(10))
		}
		apps[i] = a
	}
	var rtts [2][]time.Duration
	for len(rtts[1]) < e.opt.rtts {
		for i, a := range apps {
			n := min(rttBlock, e.opt.rtts-len(rtts[i]))
			got, err := roundTrips(a, 0, n, 0)
			if err != nil {
				return socat, bridge, fmt.Errorf("round trips (bridge %v): %w", i == 1, err)
			}
			rtts[i] = append(rtts[i], got...)
		}
	}
	socat = rttResult{p50: percentile(rtts[0], 50), p99: percentile(rtts[0], 99)}
	bridge = rttResult{p50: percentile(rtts[1], 50), p99: percentile(rtts[1], 99)}
	return socat, bridge, nil
}

// roundTrips runs warm+n round trips of AT\r -> OK, gap apart, and returns
// the last n.
func roundTrips(a *app, warm, n int, gap time.Duration) ([]time.Duration, error) {
	var rtts []time.Duration
	for i := range warm + n {
		if gap > 0 {
			time.Sleep(gap)
		}
		d, err := a.roundTrip("AT\r", "OK\r\n")
		if err != nil {
			return nil, fmt.Errorf("round trip %d: %w", i, err)
		}
		if i >= warm {
			rtts = append(rtts, d)
		}
	}
	return rtts, nil
}

// percentile returns the p-th percentile (nearest rank) of ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(p/100*float64(len(s))+0.999999) - 1
	return s[min(max(i, 0), len(s)-1)]
}
