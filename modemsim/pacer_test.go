package modemsim

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestPacerWaitsTheWireTime checks the lower bound only (no timing
// assertion on lateness: the machines are noisy; bench/run measures it).
func TestPacerWaitsTheWireTime(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		n, baud int
		want    time.Duration
	}{
		{n: 3, baud: 115200, want: 260 * time.Microsecond},    // within coarseMargin: nanosleep and spin only
		{n: 54, baud: 115200, want: 4687 * time.Microsecond},  // a timer, then nanosleep and spin
		{n: 1152, baud: 115200, want: 100 * time.Millisecond}, // mostly the timer
	} {
		var p pacer
		start := time.Now()
		if err := p.wait(ctx, tc.n, tc.baud); err != nil {
			t.Fatal(err)
		}
		if got := time.Since(start); got < tc.want {
			t.Errorf("%d bytes at %d baud: waited %v, the line takes %v", tc.n, tc.baud, got, tc.want)
		}
		p.stop()
	}
}

// TestPacerKeepsTheRate checks that waits one after the other follow the
// line's schedule, not their own start: ten 1 ms waits end no earlier than
// 10 ms after the first began.
func TestPacerKeepsTheRate(t *testing.T) {
	var p pacer
	defer p.stop()
	start := time.Now()
	for range 10 {
		if err := p.wait(context.Background(), 12, 120000); err != nil { // 1 ms each
			t.Fatal(err)
		}
	}
	if got := time.Since(start); got < 10*time.Millisecond {
		t.Errorf("ten 1 ms waits took %v", got)
	}
}

func TestPacerCancel(t *testing.T) {
	var p pacer
	defer p.stop()
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		time.Sleep(20 * time.Millisecond)
		cancel()
	}()
	// An hour of line time: only the cancellation can end this wait.
	err := p.wait(ctx, 1152*36000, 115200)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("wait = %v, want context.Canceled", err)
	}
}

func TestPacerOff(t *testing.T) {
	var p pacer
	if err := p.wait(context.Background(), 1<<30, 0); err != nil {
		t.Fatal(err)
	}
}
