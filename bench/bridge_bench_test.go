//go:build linux

package bench_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/c2cbridge/c2cbridge/bench/internal/ptypair"
	"github.com/c2cbridge/c2cbridge/bench/internal/sink"
	"github.com/c2cbridge/c2cbridge/bridge"
	c2c "github.com/c2cbridge/c2cbridge/crypto"
	"github.com/c2cbridge/c2cbridge/modemside"
	"github.com/c2cbridge/c2cbridge/ptyside"
)

// chunk is what the application writes at once, and what one benchmark
// iteration moves.
const chunk = 64 << 10

// BenchmarkBridgeThroughput is figure 1 of bench/run in one process, for
// go test -cpuprofile: an application writes into the bridge's virtual tty
// (ptyside, a real pty) in data mode; the bridge (bridge.New, the engine
// c2cbridge run uses) seals into a real pty opened with modemside; the
// sink behind it opens every frame and hashes the plaintext. The profile
// holds all three; pprof -focus=bridge narrows it to the bridge.
//
//	go test -run XXX -bench BridgeThroughput -cpuprofile cpu.out ./bench
//	go tool pprof -top -focus 'c2cbridge/(bridge|crypto|ptyside|modemside)' bench.test cpu.out
func BenchmarkBridgeThroughput(b *testing.B) {
	for _, v := range []c2c.Version{c2c.V2, c2c.V1} {
		b.Run(v.String(), func(b *testing.B) { benchThroughput(b, v) })
	}
}

func benchThroughput(b *testing.B, v c2c.Version) {
	dir := b.TempDir()
	s := c2c.RandomSecrets(v)
	data := make([]byte, chunk)
	rand.Read(data)

	uart, err := ptypair.Open(filepath.Join(dir, "ttyUART0"))
	if err != nil {
		b.Fatal(err)
	}
	defer uart.Close()
	sk, err := sink.New(sink.Config{Secrets: s, Want: int64(b.N) * chunk})
	if err != nil {
		b.Fatal(err)
	}
	go sk.Serve(uart.Master)

	port, err := modemside.Open(modemside.Config{Device: filepath.Join(dir, "ttyUART0"), FlowControl: modemside.FlowNone})
	if err != nil {
		b.Fatal(err)
	}
	defer port.Close()
	link := filepath.Join(dir, "ttyC2C0")
	tty, err := ptyside.Open(ptyside.Config{Link: link, Mode: 0o600})
	if err != nil {
		b.Fatal(err)
	}
	defer tty.Close()
	open := make(chan struct{})
	br, err := bridge.New(bridge.Config{
		Secrets: s, Device: "bench UART", Baud: 115200, ProbeTimeout: 2 * time.Second, Logger: slog.New(slog.DiscardHandler),
		OnState: func(st bridge.State) {
			if st == bridge.StateOpen {
				select {
				case <-open:
				default:
					close(open)
				}
			}
		},
	}, tty, port)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- br.Run(ctx) }()
	defer func() {
		cancel()
		<-ran
	}()
	select {
	case <-open:
	case err := <-ran:
		b.Fatalf("bridge: %v", err)
	case <-time.After(20 * time.Second):
		b.Fatal("the session did not open")
	}

	app, err := ptypair.OpenTTY(link)
	if err != nil {
		b.Fatal(err)
	}
	defer app.Close()
	if err := dial(app); err != nil {
		b.Fatal(err)
	}

	b.SetBytes(chunk)
	b.ResetTimer()
	for range b.N {
		for p := data; len(p) > 0; {
			n, err := app.Write(p)
			if err != nil {
				b.Fatal(err)
			}
			p = p[n:]
		}
	}
	wctx, wcancel := context.WithTimeout(context.Background(), time.Minute)
	defer wcancel()
	if _, err := sk.Wait(wctx); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
}

// dial puts the application's stream in data mode: ATD, then CONNECT.
func dial(app interface {
	Write([]byte) (int, error)
	Read([]byte) (int, error)
	SetReadDeadline(time.Time) error
}) error {
	if _, err := app.Write([]byte("ATD*99#\r")); err != nil {
		return err
	}
	app.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer app.SetReadDeadline(time.Time{})
	var got []byte
	buf := make([]byte, 256)
	for {
		n, err := app.Read(buf)
		got = append(got, buf[:n]...)
		if len(got) >= len("CONNECT\r\n") && string(got[len(got)-len("CONNECT\r\n"):]) == "CONNECT\r\n" {
			return nil
		}
		if err != nil {
			return fmt.Errorf("ATD: got %q: %w", got, err)
		}
	}
}
