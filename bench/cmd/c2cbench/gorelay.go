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
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := goRelay(ctx, args[0], args[1], func() { fmt.Fprintln(stderr, "relay ready") }); err != nil {
		fmt.Fprintln(stderr, "c2cbench relay:", err)
		return 1
	}
	return 0
}

// goRelay relays between two new raw ptys linked at linkA and linkB until
// ctx ends; ready is called once both links exist.
func goRelay(ctx context.Context, linkA, linkB string, ready func()) error {
	a, err := ptypair.Open(linkA)
	if err != nil {
		return err
	}
	defer a.Close()
	b, err := ptypair.Open(linkB)
	if err != nil {
		return err
	}
	defer b.Close()
	ra, err := ptypair.Raw(a.Master)
	if err != nil {
		return err
	}
	rb, err := ptypair.Raw(b.Master)
	if err != nil {
		return err
	}
	done := make(chan struct{}, 2)
	copyOne := func(dst, src *ptypair.RawFile) {
		defer func() { done <- struct{}{} }()
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
	go copyOne(rb, ra)
	go copyOne(ra, rb)
	ready()
	<-ctx.Done()
	// Closing the masters wakes both copies.
	a.Close()
	b.Close()
	<-done
	<-done
	return nil
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
