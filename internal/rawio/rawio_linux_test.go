//go:build linux

package rawio

import (
	"bytes"
	"errors"
	"io"
	"os"
	"syscall"
	"testing"
	"time"
)

// pipe returns both ends of a pipe, non-blocking on Go's poller (as
// os.Pipe makes them), with their raw connections.
func pipe(t testing.TB) (r, w *os.File, rrc, wrc syscall.RawConn) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	if rrc, err = r.SyscallConn(); err != nil {
		t.Fatal(err)
	}
	if wrc, err = w.SyscallConn(); err != nil {
		t.Fatal(err)
	}
	return r, w, rrc, wrc
}

func TestReadWrite(t *testing.T) {
	_, _, rrc, wrc := pipe(t)
	if n, err := Write(wrc, []byte("hello")); n != 5 || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	buf := make([]byte, 64)
	n, err := Read(rrc, buf)
	if err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("Read = %q, %v", buf[:n], err)
	}
	if n, err := Read(rrc, nil); n != 0 || err != nil {
		t.Fatalf("Read(nil) = %d, %v", n, err)
	}
}

// A Read waits on the poller until data comes, and a Write of more than the
// pipe holds waits until the reader drains it; every byte arrives in order.
func TestWaitsForReadiness(t *testing.T) {
	_, _, rrc, wrc := pipe(t)
	data := make([]byte, 1<<20) // 16 times a pipe's buffer
	for i := range data {
		data[i] = byte(i * 7)
	}
	got := make(chan []byte)
	go func() {
		var all []byte
		buf := make([]byte, 4096)
		for len(all) < len(data) {
			n, err := Read(rrc, buf)
			if err != nil {
				t.Error(err)
				break
			}
			all = append(all, buf[:n]...)
		}
		got <- all
	}()
	time.Sleep(10 * time.Millisecond) // let the reader wait on an empty pipe
	if n, err := Write(wrc, data); n != len(data) || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if all := <-got; !bytes.Equal(all, data) {
		t.Fatalf("read %d bytes, not what was written", len(all))
	}
}

func TestEOF(t *testing.T) {
	_, w, rrc, _ := pipe(t)
	w.Close()
	if _, err := Read(rrc, make([]byte, 8)); err != io.EOF {
		t.Fatalf("Read after the writer closed = %v, want io.EOF", err)
	}
}

func TestDeadlines(t *testing.T) {
	r, w, rrc, wrc := pipe(t)
	r.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, err := Read(rrc, make([]byte, 8)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read past its deadline = %v", err)
	}
	// Nobody reads: the pipe fills, then the deadline ends the Write with
	// the count of what it took.
	w.SetWriteDeadline(time.Now().Add(20 * time.Millisecond))
	n, err := Write(wrc, make([]byte, 1<<20))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Write past its deadline = %d, %v", n, err)
	}
	if n <= 0 || n >= 1<<20 {
		t.Fatalf("Write took %d bytes; want what the pipe holds", n)
	}
}

// Close wakes a pending Read and a pending Write; their errors wrap
// os.ErrClosed, as os.File's do.
func TestCloseUnblocks(t *testing.T) {
	for _, op := range []string{"read", "write"} {
		t.Run(op, func(t *testing.T) {
			r, w, rrc, wrc := pipe(t)
			errc := make(chan error, 1)
			go func() {
				var err error
				if op == "read" {
					_, err = Read(rrc, make([]byte, 8))
				} else {
					_, err = Write(wrc, make([]byte, 1<<20))
				}
				errc <- err
			}()
			time.Sleep(20 * time.Millisecond)
			if op == "read" {
				r.Close()
			} else {
				w.Close()
			}
			select {
			case err := <-errc:
				if !errors.Is(err, os.ErrClosed) {
					t.Fatalf("%s after Close = %v, want an error wrapping os.ErrClosed", op, err)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("Close did not wake the pending %s", op)
			}
			// And afterwards at once.
			var err error
			if op == "read" {
				_, err = Read(rrc, make([]byte, 8))
			} else {
				_, err = Write(wrc, []byte("x"))
			}
			if !errors.Is(err, os.ErrClosed) {
				t.Fatalf("%s on a closed file = %v", op, err)
			}
		})
	}
}

func TestErrno(t *testing.T) {
	// Reading the write end of a pipe fails with EBADF from the kernel.
	_, _, _, wrc := pipe(t)
	_, err := Read(wrc, make([]byte, 8))
	if !errors.Is(err, syscall.EBADF) {
		t.Fatalf("Read of a write-only pipe end = %v, want EBADF", err)
	}
}

func BenchmarkReadWrite(b *testing.B) {
	_, _, rrc, wrc := pipe(b)
	msg := make([]byte, 4096)
	buf := make([]byte, 4096)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Write(wrc, msg); err != nil {
			b.Fatal(err)
		}
		for got := 0; got < len(msg); {
			n, err := Read(rrc, buf)
			if err != nil {
				b.Fatal(err)
			}
			got += n
		}
	}
}
