//go:build linux

// Package rawio reads and writes non-blocking descriptors that sit on Go's
// poller with raw system calls.
//
// os.File.Read and Write tell the Go scheduler about every system call
// (entersyscall/exitsyscall). On a relay that moves a few kilobytes per call
// and goes idle between bursts, that has a cost of its own: a process whose
// processors were all idle wakes the runtime's monitor thread (sysmon) at
// its first such call, and sysmon then polls every 20 µs until the process
// is idle again; in this project's throughput benchmark that was 10-20 % of
// the bridge's CPU and a quarter of its context switches. A read or write
// of a non-blocking descriptor never blocks, so it need not be announced:
// Read and Write here make it raw and use syscall.RawConn only to wait for
// readiness, which keeps os.File's deadlines and its Close semantics (a
// pending call returns once the file is closed).
package rawio

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
	"unsafe"
)

// pollerClosing is the text of the error the poller returns for a closed
// file (internal/poll.ErrFileClosing, which os.File turns into os.ErrClosed
// and syscall.RawConn passes on as it is).
const pollerClosing = "use of closed file"

// waitErr makes an error of rc.Read or rc.Write wrap os.ErrClosed when it
// says the file was closed, as os.File's errors do.
func waitErr(err error) error {
	if err != nil && !errors.Is(err, os.ErrClosed) && err.Error() == pollerClosing {
		return fmt.Errorf("%w (%v)", os.ErrClosed, err)
	}
	return err
}

// op is one Read or Write: its buffer, results, and the function
// rc.Read or rc.Write calls. Ops are pooled, so that neither allocates.
type op struct {
	b     []byte
	n     int
	errno syscall.Errno
	read  func(fd uintptr) bool
	write func(fd uintptr) bool
}

var ops = sync.Pool{New: func() any {
	o := &op{}
	o.read, o.write = o.readOnce, o.writeAll
	return o
}}

// readOnce reads once; false means "nothing there: wait".
func (o *op) readOnce(fd uintptr) bool {
	for {
		r, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&o.b[0])), uintptr(len(o.b)))
		switch e {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		}
		o.n, o.errno = int(r), e
		return true
	}
}

// writeAll writes until o.b is all written or fails; false means "full:
// wait".
func (o *op) writeAll(fd uintptr) bool {
	for o.n < len(o.b) {
		r, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&o.b[o.n])), uintptr(len(o.b)-o.n))
		switch e {
		case 0:
			if r == 0 {
				return false // nothing taken: wait until it can take more
			}
			o.n += int(r)
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false
		default:
			o.errno = e
			return true
		}
	}
	return true
}

// Read reads into b from the non-blocking descriptor behind rc, waiting on
// Go's poller while nothing is there. It returns io.EOF for end of file, a
// syscall.Errno for a failed read, and what rc.Read returns for a deadline
// or a closed file (errors wrapping os.ErrDeadlineExceeded and
// os.ErrClosed).
func Read(rc syscall.RawConn, b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	o := ops.Get().(*op)
	o.b, o.n, o.errno = b, 0, 0
	err := rc.Read(o.read)
	n, errno := o.n, o.errno
	o.b = nil
	ops.Put(o)
	switch {
	case err != nil:
		return 0, waitErr(err)
	case errno != 0:
		return 0, errno
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// Write writes all of b to the non-blocking descriptor behind rc, waiting
// on Go's poller while the descriptor's buffer is full. It returns how much
// was written and the first error: a syscall.Errno, or what rc.Write
// returns for a deadline or a closed file (wrapping os.ErrDeadlineExceeded
// or os.ErrClosed).
func Write(rc syscall.RawConn, b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	o := ops.Get().(*op)
	o.b, o.n, o.errno = b, 0, 0
	err := rc.Write(o.write)
	n, errno := o.n, o.errno
	o.b = nil
	ops.Put(o)
	switch {
	case err != nil:
		return n, waitErr(err)
	case errno != 0:
		return n, errno
	}
	return n, nil
}
