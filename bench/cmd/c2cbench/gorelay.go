//go:build linux

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/c2cbridge/c2cbridge/bench/internal/ptypair"
)

// relayGo is a second plaintext reference for figure 1: this harness
// binary run as "c2cbench relay LINK_A LINK_B", a relay written in Go the
// way the bridge does its I/O (two raw ptys, non-blocking masters on Go's
// poller read and written with internal/rawio, 64 KiB reads, one goroutine
// per direction) but without the protocol. Next to socat it shows what the language and its runtime cost
// on this machine; next to the bridge, what the protocol costs.
var relayGo = relayKind{name: "go-relay"}

// goRelayMain is "c2cbench relay LINK_A LINK_B": it makes two raw ptys,
// links their slaves at LINK_A and LINK_B, prints "relay ready" and copies
// between the masters until SIGTERM or SIGINT.
func goRelayMain(args []string, stderr io.Writer) int {
	if len(args) != 2 {
		fmt.Fprintln(stderr, "usage: c2cbench relay LINK_A LINK_B")
		return 2
	}
	a, err := ptypair.Open(args[0])
	if err != nil {
		fmt.Fprintln(stderr, "c2cbench relay:", err)
		return 1
	}
	defer a.Close()
	b, err := ptypair.Open(args[1])
	if err != nil {
		fmt.Fprintln(stderr, "c2cbench relay:", err)
		return 1
	}
	defer b.Close()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	done := make(chan struct{}, 2)
	copyOne := func(dstFile, srcFile *os.File) {
		defer func() { done <- struct{}{} }()
		dst, err := ptypair.Raw(dstFile)
		if err != nil {
			return
		}
		src, err := ptypair.Raw(srcFile)
		if err != nil {
			return
		}
		buf := make([]byte, 64<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}
	go copyOne(b.Master, a.Master)
	go copyOne(a.Master, b.Master)
	fmt.Fprintln(stderr, "relay ready")
	<-ctx.Done()
	// Closing the masters wakes both copies.
	a.Close()
	b.Close()
	<-done
	<-done
	return 0
}

// startGoRelay starts this binary as the Go relay between links a and b.
func (e *env) startGoRelay(ctx context.Context, a, b string) (*proc, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("go relay: %w", err)
	}
	p, err := start(relayGo.name, "", nil, self, "relay", a, b)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	if err := p.waitOutput(ctx, "relay ready"); err != nil {
		p.stop(0)
		return nil, err
	}
	return p, nil
}
