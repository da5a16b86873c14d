//go:build linux

package main

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/c2cbridge/c2cbridge/bench/internal/ptypair"
)

// TestGoRelay checks the Go reference relay of figure 1: bytes written at
// either link come out of the other, unchanged (all 256 byte values: the
// ptys are raw), and cancelling its context ends it.
func TestGoRelay(t *testing.T) {
	dir := t.TempDir()
	la, lb := filepath.Join(dir, "A"), filepath.Join(dir, "B")
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- goRelay(ctx, la, lb, func() { close(ready) }) }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("relay ended before it was ready: %v", err)
	}
	a, err := ptypair.OpenTTY(la)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := ptypair.OpenTTY(lb)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	msg := make([]byte, 100<<10) // more than a pty buffers
	for i := range msg {
		msg[i] = byte(i)
	}
	for _, dir := range []struct {
		name     string
		from, to interface {
			Write([]byte) (int, error)
			Read([]byte) (int, error)
			SetReadDeadline(time.Time) error
		}
	}{{"A to B", a, b}, {"B to A", b, a}} {
		go func() {
			if _, err := dir.from.Write(msg); err != nil {
				t.Error(err)
			}
		}()
		dir.to.SetReadDeadline(time.Now().Add(10 * time.Second))
		var got []byte
		buf := make([]byte, 8192)
		for len(got) < len(msg) {
			n, err := dir.to.Read(buf)
			if err != nil {
				t.Fatalf("%s: after %d bytes: %v", dir.name, len(got), err)
			}
			got = append(got, buf[:n]...)
		}
		if !bytes.Equal(got, msg) {
			t.Fatalf("%s: the bytes differ", dir.name)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the relay did not end with its context")
	}
}
