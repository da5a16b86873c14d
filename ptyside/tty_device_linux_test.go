//go:build linux

package ptyside_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"github.com/c2cbridge/c2cbridge/internal/rawtty"
	"github.com/c2cbridge/c2cbridge/ptyside"
)

// The existing tty of these tests is the slave of a pseudo-terminal, which
// hangs up when its master closes, as a gadget's /dev/ttyGS0 does when the
// USB link goes away. The test holds the master: the "host" end, where the
// applications are. The device's Path is a symlink the test controls, so
// that it can point it at nothing and then at a new pty.

// host is the master of a pty whose slave is the device under test.
type host struct {
	m     *os.File // non-blocking, on Go's poller
	slave string   // the slave's path, /dev/pts/N
}

// newHost makes a pty and returns its master; the master is closed when t
// ends unless the test closed it.
func newHost(t *testing.T) *host {
	t.Helper()
	m, s, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	slave := s.Name()
	s.Close()
	if m, err = rawtty.Nonblocking(m); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return &host{m: m, slave: slave}
}

// hangUp closes the master: the slave, the device, hangs up.
func (h *host) hangUp(t *testing.T) {
	t.Helper()
	if err := h.m.Close(); err != nil {
		t.Fatal(err)
	}
}

// read reads exactly n bytes on the host end.
func (h *host) read(t *testing.T, n int) []byte {
	t.Helper()
	h.m.SetReadDeadline(time.Now().Add(hangGuard))
	b := make([]byte, n)
	if got, err := io.ReadFull(h.m, b); err != nil {
		t.Fatalf("host read %d of %d bytes: %v: %q", got, n, err, b[:got])
	}
	return b
}

// write writes b on the host end.
func (h *host) write(t *testing.T, b []byte) {
	t.Helper()
	h.m.SetWriteDeadline(time.Now().Add(hangGuard))
	if _, err := h.m.Write(b); err != nil {
		t.Fatalf("host write: %v", err)
	}
}

// pointAt makes link a symlink to target, replacing what is there in one
// step.
func pointAt(t *testing.T, link, target string) {
	t.Helper()
	tmp := link + ".tmp"
	os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, link); err != nil {
		t.Fatal(err)
	}
}

// testTTY is a TTY under test with its harness.
type testTTY struct {
	*ptyside.TTY
	*harness
	path string // the symlink the TTY opens
}

// openTTY opens the device at a symlink to h's slave, and closes it when t
// ends.
func openTTY(t *testing.T, h *host) *testTTY {
	t.Helper()
	tt := &testTTY{path: filepath.Join(t.TempDir(), "ttyGS0"), harness: newHarness()}
	pointAt(t, tt.path, h.slave)
	d, err := ptyside.OpenDevice(ptyside.DeviceConfig{
		Path:     tt.path,
		OnAttach: tt.onAttach,
	})
	if err != nil {
		t.Fatalf("OpenDevice: %v", err)
	}
	tt.TTY, tt.dev = d, d
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return tt
}

// noEvent checks that no attach event comes within d.
func (tt *testTTY) noEvent(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case got := <-tt.events:
		t.Fatalf("OnAttach(%v), want none", got)
	case <-time.After(d):
	}
}

// roundTrip checks that every byte value passes unchanged both ways
// between h and the device.
func (tt *testTTY) roundTrip(t *testing.T, h *host) {
	t.Helper()
	data := allBytes()
	if n, err := tt.Write(data); n != len(data) || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if got := h.read(t, len(data)); !bytes.Equal(got, data) {
		t.Fatalf("host read %q, want %q", got, data)
	}
	rev := bytes.Clone(data)
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	h.write(t, rev)
	if got := tt.readN(t, len(rev)); !bytes.Equal(got, rev) {
		t.Fatalf("device read %q, want %q", got, rev)
	}
}

func TestDeviceRoundTrip(t *testing.T) {
	h := newHost(t)
	tt := openTTY(t, h)
	tt.startPump(t)
	if !tt.Attached() {
		t.Error("a device just opened is not attached")
	}
	if tt.Path() != tt.path || tt.Link() != "" {
		t.Errorf("Path, Link = %q, %q; want %q, \"\"", tt.Path(), tt.Link(), tt.path)
	}
	tt.roundTrip(t, h)
	tt.noEvent(t, 0)
	if tt.Dropped() != 0 {
		t.Errorf("Dropped() = %d, want 0", tt.Dropped())
	}
}

// The device is raw as the PTY's slave is, and 8N1.
func TestDeviceRawMode(t *testing.T) {
	h := newHost(t)
	// Cooked, as a tty nobody set up is, and with two stop bits.
	control(t, h.m, func(fd int) error {
		tio, err := unix.IoctlGetTermios(fd, unix.TCGETS)
		if err != nil {
			return err
		}
		tio.Lflag |= unix.ECHO | unix.ICANON | unix.ISIG | unix.IEXTEN
		tio.Iflag |= unix.ICRNL | unix.IXON
		tio.Oflag |= unix.OPOST
		tio.Cflag |= unix.CSTOPB | unix.PARENB
		tio.Cflag &^= unix.CLOCAL | unix.CREAD
		return unix.IoctlSetTermios(fd, unix.TCSETS, tio)
	})
	openTTY(t, h)
	var tio *unix.Termios
	control(t, h.m, func(fd int) (err error) {
		tio, err = unix.IoctlGetTermios(fd, unix.TCGETS)
		return err
	})
	checkClear(t, "the device", append(rawFlags(tio),
		termFlag{"PARENB", tio.Cflag, unix.PARENB},
		termFlag{"CSTOPB", tio.Cflag, unix.CSTOPB}), tio)
	if tio.Cflag&(unix.CLOCAL|unix.CREAD) != unix.CLOCAL|unix.CREAD {
		t.Errorf("CLOCAL or CREAD not set: cflag %#x", tio.Cflag)
	}
	if tio.Cc[unix.VMIN] != 1 || tio.Cc[unix.VTIME] != 0 {
		t.Errorf("VMIN, VTIME = %d, %d; want 1, 0", tio.Cc[unix.VMIN], tio.Cc[unix.VTIME])
	}
}

// The device hangs up (the USB link went away): OnAttach(false), Writes
// are dropped and counted, and Read waits while the path leads nowhere.
// Once it leads to a tty again, OnAttach(true), and bytes flow both ways,
// to the Read that waited across the hang-up too.
func TestDeviceHangUpAndReopen(t *testing.T) {
	h := newHost(t)
	tt := openTTY(t, h)
	tt.startPump(t)
	tt.roundTrip(t, h)

	// The gadget's tty disappears with the link, as the pty's slave
	// does with its master; the symlink makes sure a new pty that reuses
	// the number is not found meanwhile.
	pointAt(t, tt.path, filepath.Join(filepath.Dir(tt.path), "gone"))
	h.hangUp(t)
	tt.wantEvent(t, false)
	var dropped uint64
	for _, n := range []int{0, 1, 100, 70000} {
		if k, err := tt.Write(make([]byte, n)); k != n || err != nil {
			t.Fatalf("Write while hung up = %d, %v; want %d, nil", k, err, n)
		}
		dropped += uint64(n)
	}
	if got := tt.Dropped(); got != dropped {
		t.Fatalf("Dropped() = %d, want %d", got, dropped)
	}
	// Several tries of the backoff fail.
	tt.noEvent(t, 500*time.Millisecond)
	if tt.Attached() {
		t.Fatal("attached while the path leads nowhere")
	}

	h2 := newHost(t)
	pointAt(t, tt.path, h2.slave)
	tt.wantEvent(t, true)
	tt.roundTrip(t, h2)
	if got := tt.Dropped(); got != dropped {
		t.Errorf("Dropped() = %d after the reopen, want %d", got, dropped)
	}

	// And again: every hang-up is reported once, every reopen once.
	h2.hangUp(t)
	tt.wantEvent(t, false)
	h3 := newHost(t)
	pointAt(t, tt.path, h3.slave)
	tt.wantEvent(t, true)
	tt.roundTrip(t, h3)
	tt.noEvent(t, 50*time.Millisecond)
}

// A Write blocked on a host that does not read returns once the device
// hangs up, with the rest counted as dropped.
func TestDeviceHangUpEndsBlockedWrite(t *testing.T) {
	h := newHost(t)
	tt := openTTY(t, h)
	big := make([]byte, 1<<20) // far more than the kernel buffers
	type result struct {
		n   int
		err error
	}
	res := make(chan result, 1)
	go func() {
		n, err := tt.Write(big)
		res <- result{n, err}
	}()
	time.Sleep(50 * time.Millisecond) // Usually lets Write block first; the test passes either way.
	h.hangUp(t)
	select {
	case r := <-res:
		if r.n != len(big) || r.err != nil {
			t.Fatalf("Write = %d, %v; want %d, nil", r.n, r.err, len(big))
		}
	case <-time.After(hangGuard):
		t.Fatal("Write still blocked after the hang-up")
	}
	if tt.Dropped() == 0 {
		t.Error("the undelivered rest was not counted as dropped")
	}
	tt.wantEvent(t, false)
}

// After a hang-up the device lets go of the hung-up tty: a gadget's port
// is not freed while someone holds it.
func TestDeviceClosesHungUpTTY(t *testing.T) {
	h := newHost(t)
	tt := openTTY(t, h)
	if n := openFDs(t, h.slave); n != 1 {
		t.Fatalf("%d descriptors of %s open, want the device's 1", n, h.slave)
	}
	pointAt(t, tt.path, filepath.Join(filepath.Dir(tt.path), "gone"))
	h.hangUp(t)
	tt.wantEvent(t, false)
	if n := openFDs(t, h.slave); n != 0 {
		t.Fatalf("%d descriptors of the hung-up %s still open", n, h.slave)
	}
}

// openFDs counts this process's descriptors of the file at path.
func openFDs(t *testing.T, path string) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err == nil && (target == path || target == path+" (deleted)") {
			n++
		}
	}
	return n
}

func TestDeviceDeadlines(t *testing.T) {
	for _, attached := range []bool{true, false} {
		t.Run(fmt.Sprintf("attached=%v", attached), func(t *testing.T) {
			h := newHost(t)
			tt := openTTY(t, h)
			if !attached {
				pointAt(t, tt.path, filepath.Join(filepath.Dir(tt.path), "gone"))
				h.hangUp(t)
				tt.wantEvent(t, false)
			}
			errc := make(chan error, 1)
			go func() {
				_, err := tt.Read(make([]byte, 10))
				errc <- err
			}()
			time.Sleep(20 * time.Millisecond)
			tt.SetReadDeadline(time.Unix(1, 0))
			select {
			case err := <-errc:
				if !errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatalf("Read returned %v, want a deadline error", err)
				}
			case <-time.After(hangGuard):
				t.Fatal("a passed deadline did not unblock Read")
			}
			if !attached {
				return
			}
			// The host does not read: the write deadline ends a
			// blocked Write with what it took.
			tt.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
			n, err := tt.Write(make([]byte, 1<<20))
			if !errors.Is(err, os.ErrDeadlineExceeded) || n >= 1<<20 {
				t.Fatalf("Write past its deadline = %d, %v", n, err)
			}
		})
	}
}

// A deadline set while the device is hung up holds for the reopened one.
func TestDeviceDeadlineSurvivesReopen(t *testing.T) {
	h := newHost(t)
	tt := openTTY(t, h)
	pointAt(t, tt.path, filepath.Join(filepath.Dir(tt.path), "gone"))
	h.hangUp(t)
	tt.wantEvent(t, false)
	tt.SetReadDeadline(time.Unix(1, 0))
	h2 := newHost(t)
	pointAt(t, tt.path, h2.slave)
	tt.wantEvent(t, true)
	h2.write(t, []byte("x")) // would end a Read without the deadline
	time.Sleep(20 * time.Millisecond)
	if n, err := tt.Read(make([]byte, 10)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read = %d, %v; want the deadline set before the reopen", n, err)
	}
}

func TestDeviceCloseUnblocks(t *testing.T) {
	for _, tc := range []struct {
		name     string
		attached bool
		op       func(tt *testTTY) error
	}{
		{"Read attached", true, func(tt *testTTY) error { _, err := tt.Read(make([]byte, 16)); return err }},
		{"Read hung up", false, func(tt *testTTY) error { _, err := tt.Read(make([]byte, 16)); return err }},
		{"Write attached", true, func(tt *testTTY) error { _, err := tt.Write(make([]byte, 1<<20)); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHost(t)
			tt := openTTY(t, h)
			if !tc.attached {
				pointAt(t, tt.path, filepath.Join(filepath.Dir(tt.path), "gone"))
				h.hangUp(t)
				tt.wantEvent(t, false)
			}
			errc := make(chan error, 1)
			go func() { errc <- tc.op(tt) }()
			time.Sleep(20 * time.Millisecond) // Usually lets the call block first; the test passes either way.
			if err := tt.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			select {
			case err := <-errc:
				for _, target := range []error{ptyside.ErrClosed, os.ErrClosed, net.ErrClosed} {
					if !errors.Is(err, target) {
						t.Errorf("error %v is not %v", err, target)
					}
				}
			case <-time.After(hangGuard):
				t.Fatal("still blocked after Close")
			}
			if _, err := tt.Write([]byte("x")); !errors.Is(err, ptyside.ErrClosed) {
				t.Errorf("Write after Close: %v, want ErrClosed", err)
			}
			if _, err := tt.Read(make([]byte, 1)); !errors.Is(err, ptyside.ErrClosed) {
				t.Errorf("Read after Close: %v, want ErrClosed", err)
			}
			if err := tt.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
			tt.noEvent(t, 0)
		})
	}
}

func TestDeviceOpenErrors(t *testing.T) {
	dir := t.TempDir()
	regular := filepath.Join(dir, "file")
	mustWrite(t, regular)
	for _, tc := range []struct {
		name string
		path string
		is   error
		text string
	}{
		{"missing path", filepath.Join(dir, "missing"), fs.ErrNotExist, "no such file"},
		{"regular file", regular, ptyside.ErrNotTTY, "not a tty: a regular file"},
		{"directory", dir, ptyside.ErrNotTTY, "not a tty: a directory"},
		{"character device that is no tty", "/dev/null", ptyside.ErrNotTTY, "not a tty: a character device"},
		{"empty path", "", nil, "Path is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := ptyside.OpenDevice(ptyside.DeviceConfig{Path: tc.path})
			if err == nil {
				d.Close()
				t.Fatal("opened")
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v is not %v", err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.text) || !strings.Contains(err.Error(), tc.path) {
				t.Errorf("error %q does not name %q and say %q", err, tc.path, tc.text)
			}
		})
	}
}

func TestDeviceOpenPermissionDenied(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root opens the tty whatever its mode")
	}
	h := newHost(t)
	if err := os.Chmod(h.slave, 0); err != nil {
		t.Fatal(err)
	}
	d, err := ptyside.OpenDevice(ptyside.DeviceConfig{Path: h.slave})
	if err == nil {
		d.Close()
		t.Fatal("opened a tty with mode 0")
	}
	if !errors.Is(err, fs.ErrPermission) || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("error %v, want permission denied", err)
	}
}

// No goroutine of a device outlives its Close, whether it is open or
// being reopened then.
func TestDeviceNoGoroutineOutlivesClose(t *testing.T) {
	before := runtime.NumGoroutine()
	for _, hungUp := range []bool{false, true, false} {
		h := newHost(t)
		tt := openTTY(t, h)
		tt.startPump(t)
		h.write(t, []byte("x"))
		tt.readN(t, 1)
		if hungUp {
			pointAt(t, tt.path, filepath.Join(filepath.Dir(tt.path), "gone"))
			h.hangUp(t)
			tt.wantEvent(t, false)
		}
		tt.Close()
	}
	deadline := time.Now().Add(hangGuard)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines before, %d after Close:\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}
