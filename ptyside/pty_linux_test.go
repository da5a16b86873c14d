//go:build linux

package ptyside_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/c2cbridge/c2cbridge/ptyside"
)

// hangGuard bounds every wait in these tests. It only catches hangs; no test
// depends on how fast anything happens.
const hangGuard = 5 * time.Second

// harness drives a Device under test: its attach events (onAttach is its
// OnAttach) and, if started, a pump that copies everything Read returns
// into reads.
type harness struct {
	dev    ptyside.Device
	events chan bool
	reads  chan []byte
}

// newHarness returns a harness for a device still to be opened.
func newHarness() *harness { return &harness{events: make(chan bool, 64)} }

// onAttach is the device's OnAttach.
func (h *harness) onAttach(attached bool) { h.events <- attached }

// startPump starts a goroutine that reads the device until it is closed.
func (h *harness) startPump(t *testing.T) {
	t.Helper()
	h.reads = make(chan []byte, 1024)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			b := make([]byte, 4096)
			n, err := h.dev.Read(b)
			if err != nil {
				if !errors.Is(err, ptyside.ErrClosed) {
					t.Errorf("Read: %v", err)
				}
				return
			}
			h.reads <- b[:n]
		}
	}()
	t.Cleanup(func() {
		h.dev.Close()
		<-done
	})
}

// readN collects exactly n bytes from the pump.
func (h *harness) readN(t *testing.T, n int) []byte {
	t.Helper()
	var got []byte
	timeout := time.After(hangGuard)
	for len(got) < n {
		select {
		case b := <-h.reads:
			got = append(got, b...)
		case <-timeout:
			t.Fatalf("device read %d of %d bytes: %q", len(got), n, got)
		}
	}
	if len(got) > n {
		t.Fatalf("device read %d bytes, want %d: %q", len(got), n, got)
	}
	return got
}

// wantEvent waits for the next attach event and checks it.
func (h *harness) wantEvent(t *testing.T, want bool) {
	t.Helper()
	select {
	case got := <-h.events:
		if got != want {
			t.Fatalf("OnAttach(%v), want OnAttach(%v)", got, want)
		}
	case <-time.After(hangGuard):
		t.Fatalf("no OnAttach(%v)", want)
	}
	if got := h.dev.Attached(); got != want {
		t.Fatalf("Attached() = %v after OnAttach(%v)", got, want)
	}
}

// testPTY is a PTY under test with its harness.
type testPTY struct {
	*ptyside.PTY
	*harness
}

// openPTY opens a device whose link lives in a fresh temporary directory,
// and closes it when the test ends.
func openPTY(t *testing.T, cfg ptyside.Config) *testPTY {
	t.Helper()
	if cfg.Link == "" {
		cfg.Link = filepath.Join(t.TempDir(), "ttyC2C0")
	}
	tp := &testPTY{harness: newHarness()}
	cfg.OnAttach = tp.onAttach
	p, err := ptyside.Open(cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	tp.PTY, tp.dev = p, p
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return tp
}

// openApp opens the tty through the link as an application would, and waits
// until the device has noticed.
func openApp(t *testing.T, tp *testPTY) *os.File {
	t.Helper()
	f, err := os.OpenFile(tp.Link(), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("application open: %v", err)
	}
	t.Cleanup(func() { f.Close() })
	tp.wantEvent(t, true)
	return f
}

// closeApp closes the application's tty and waits until the device has
// noticed.
func closeApp(t *testing.T, tp *testPTY, f *os.File) {
	t.Helper()
	if err := f.Close(); err != nil {
		t.Fatalf("application close: %v", err)
	}
	tp.wantEvent(t, false)
}

// appRead reads exactly n bytes on the application side.
func appRead(t *testing.T, f *os.File, n int) []byte {
	t.Helper()
	if err := f.SetReadDeadline(time.Now().Add(hangGuard)); err != nil {
		t.Fatalf("SetReadDeadline: %v", err)
	}
	b := make([]byte, n)
	if got, err := io.ReadFull(f, b); err != nil {
		t.Fatalf("application read %d of %d bytes: %v: %q", got, n, err, b[:got])
	}
	return b
}

// appWrite writes b on the application side.
func appWrite(t *testing.T, f *os.File, b []byte) {
	t.Helper()
	if _, err := f.Write(b); err != nil {
		t.Fatalf("application write: %v", err)
	}
}

// devWrite writes b to the device and checks that all of it was taken.
func devWrite(t *testing.T, tp *testPTY, b []byte) {
	t.Helper()
	n, err := tp.Write(b)
	if n != len(b) || err != nil {
		t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(b))
	}
}

// allBytes returns every byte value, followed by the bytes a cooked tty
// would most likely mangle.
func allBytes() []byte {
	b := make([]byte, 0, 256+8)
	for i := range 256 {
		b = append(b, byte(i))
	}
	return append(b, "\r\n\r\x03\x04\x11\x13\x7f\x00"...)
}

// termFlag is one termios bit a raw tty must not have.
type termFlag struct {
	name  string
	flags uint32
	bit   uint32
}

// rawFlags returns the bits of tio that both backends clear: no echo, no
// line editing or signals, no output processing, no CR mapping, no
// software flow control, all eight bits.
func rawFlags(tio *unix.Termios) []termFlag {
	return []termFlag{
		{"ECHO", tio.Lflag, unix.ECHO},
		{"ICANON", tio.Lflag, unix.ICANON},
		{"ISIG", tio.Lflag, unix.ISIG},
		{"IEXTEN", tio.Lflag, unix.IEXTEN},
		{"OPOST", tio.Oflag, unix.OPOST},
		{"ICRNL", tio.Iflag, unix.ICRNL},
		{"IXON", tio.Iflag, unix.IXON},
		{"IXOFF", tio.Iflag, unix.IXOFF},
		{"ISTRIP", tio.Iflag, unix.ISTRIP},
	}
}

// checkClear checks that none of flags is set and that tio's characters
// are 8 bits; where names the tty in messages.
func checkClear(t *testing.T, where string, flags []termFlag, tio *unix.Termios) {
	t.Helper()
	for _, f := range flags {
		if f.flags&f.bit != 0 {
			t.Errorf("%s is set on %s", f.name, where)
		}
	}
	if got := tio.Cflag & unix.CSIZE; got != unix.CS8 {
		t.Errorf("character size %#x, want CS8", got)
	}
}

func TestRawModeFlags(t *testing.T) {
	tp := openPTY(t, ptyside.Config{})
	f := openApp(t, tp)
	var tio *unix.Termios
	control(t, f, func(fd int) (err error) {
		tio, err = unix.IoctlGetTermios(fd, unix.TCGETS)
		return err
	})
	checkClear(t, "the slave", append(rawFlags(tio),
		termFlag{"INLCR", tio.Iflag, unix.INLCR},
		termFlag{"IGNCR", tio.Iflag, unix.IGNCR}), tio)
	if tio.Cc[unix.VMIN] != 1 || tio.Cc[unix.VTIME] != 0 {
		t.Errorf("VMIN, VTIME = %d, %d; want 1, 0", tio.Cc[unix.VMIN], tio.Cc[unix.VTIME])
	}
}

func TestRawModeTransparent(t *testing.T) {
	tp := openPTY(t, ptyside.Config{})
	tp.startPump(t)
	f := openApp(t, tp)
	data := allBytes()

	// Device to application, then application to device: if the tty
	// echoed, the device would read its own output back before the
	// application's.
	devWrite(t, tp, data)
	if got := appRead(t, f, len(data)); !bytes.Equal(got, data) {
		t.Fatalf("application read %q, want %q", got, data)
	}
	rev := bytes.Clone(data)
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	appWrite(t, f, rev)
	if got := tp.readN(t, len(rev)); !bytes.Equal(got, rev) {
		t.Fatalf("device read %q, want %q", got, rev)
	}
}

func TestLink(t *testing.T) {
	for _, tc := range []struct {
		name    string
		prepare func(t *testing.T, link string)
		wantErr error // nil: Open must succeed and own the link
	}{
		{"absent", func(*testing.T, string) {}, nil},
		{"dangling symlink", func(t *testing.T, link string) {
			mustSymlink(t, "/dev/pts/does-not-exist", link)
		}, nil},
		{"symlink to a file", func(t *testing.T, link string) {
			target := filepath.Join(t.TempDir(), "other")
			mustWrite(t, target)
			mustSymlink(t, target, link)
		}, nil},
		{"regular file", func(t *testing.T, link string) { mustWrite(t, link) }, ptyside.ErrLinkOccupied},
		{"directory", func(t *testing.T, link string) {
			if err := os.Mkdir(link, 0o755); err != nil {
				t.Fatal(err)
			}
		}, ptyside.ErrLinkOccupied},
	} {
		t.Run(tc.name, func(t *testing.T) {
			link := filepath.Join(t.TempDir(), "ttyC2C0")
			tc.prepare(t, link)
			before, _ := os.Lstat(link)
			p, err := ptyside.Open(ptyside.Config{Link: link})
			if tc.wantErr != nil {
				if err == nil {
					p.Close()
					t.Fatalf("Open succeeded, want %v", tc.wantErr)
				}
				if !errors.Is(err, tc.wantErr) {
					t.Errorf("Open: %v, want %v", err, tc.wantErr)
				}
				if !strings.Contains(err.Error(), link) {
					t.Errorf("Open error %q does not name %s", err, link)
				}
				after, lerr := os.Lstat(link)
				if lerr != nil || !os.SameFile(before, after) {
					t.Errorf("Open touched %s: %v", link, lerr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if got, err := os.Readlink(link); err != nil || got != p.Path() {
				t.Errorf("link -> %q, %v; want %q", got, err, p.Path())
			}
			if p.Link() != link {
				t.Errorf("Link() = %q, want %q", p.Link(), link)
			}
			if !strings.HasPrefix(p.Path(), "/dev/pts/") {
				t.Errorf("Path() = %q, want /dev/pts/N", p.Path())
			}
			if err := p.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if _, err := os.Lstat(link); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("link still there after Close: %v", err)
			}
			if err := p.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
		})
	}
}

func TestCloseKeepsForeignLink(t *testing.T) {
	link := filepath.Join(t.TempDir(), "ttyC2C0")
	p, err := ptyside.Open(ptyside.Config{Link: link})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	// Someone else (a second instance) has taken the link over.
	os.Remove(link)
	mustSymlink(t, "/dev/pts/elsewhere", link)
	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got, err := os.Readlink(link); err != nil || got != "/dev/pts/elsewhere" {
		t.Errorf("link -> %q, %v; Close must leave a link it does not own", got, err)
	}
}

func TestModeAndGroup(t *testing.T) {
	dialout := -1
	if g, err := user.LookupGroup("dialout"); err == nil {
		dialout, _ = strconv.Atoi(g.Gid)
	}
	for _, tc := range []struct {
		name     string
		mode     os.FileMode
		group    string
		wantMode os.FileMode // 0: not checked
		wantGid  int         // -1: not checked
	}{
		{"mode only", 0o660, "", 0o660, -1},
		{"group name", 0o640, "dialout", 0o640, dialout},
		{"numeric gid", 0o666, "20", 0o666, 20},
		{"other numeric gid", 0o600, "4242", 0o600, 4242},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.group == "dialout" && dialout < 0 {
				t.Skip("no dialout group on this system")
			}
			tp := openPTY(t, ptyside.Config{Mode: tc.mode, Group: tc.group})
			check := func(when string) {
				fi, err := os.Stat(tp.Link()) // follows the link to the slave
				if err != nil {
					t.Fatal(err)
				}
				if fi.Mode()&os.ModeCharDevice == 0 {
					t.Errorf("%s: link leads to %v, want a character device", when, fi.Mode())
				}
				if tc.wantMode != 0 && fi.Mode().Perm() != tc.wantMode {
					t.Errorf("%s: mode %04o, want %04o", when, fi.Mode().Perm(), tc.wantMode)
				}
				if st := fi.Sys().(*syscall.Stat_t); tc.wantGid >= 0 && int(st.Gid) != tc.wantGid {
					t.Errorf("%s: gid %d, want %d", when, st.Gid, tc.wantGid)
				}
			}
			check("after Open")
			closeApp(t, tp, openApp(t, tp))
			check("after an application")
		})
	}
}

func TestBadConfig(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		cfg  ptyside.Config
	}{
		{"no link", ptyside.Config{}},
		{"unknown group", ptyside.Config{Link: filepath.Join(dir, "a"), Group: "no-such-group-c2c"}},
		{"missing directory", ptyside.Config{Link: filepath.Join(dir, "missing", "tty")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ptyside.Open(tc.cfg)
			if err == nil {
				p.Close()
				t.Fatal("Open succeeded")
			}
			if tc.cfg.Link != "" {
				if _, err := os.Lstat(tc.cfg.Link); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("failed Open left %s behind", tc.cfg.Link)
				}
			}
		})
	}
}

func TestAttachDetach(t *testing.T) {
	tp := openPTY(t, ptyside.Config{})
	if tp.Attached() {
		t.Fatal("attached before any application opened the tty")
	}
	f := openApp(t, tp)
	closeApp(t, tp, f)
}

func TestApplicationRoundTrip(t *testing.T) {
	tp := openPTY(t, ptyside.Config{})
	tp.startPump(t)
	f := openApp(t, tp)
	appWrite(t, f, []byte("ATZ\r"))
	if got := tp.readN(t, 4); string(got) != "ATZ\r" {
		t.Fatalf("device read %q", got)
	}
	devWrite(t, tp, []byte("\r\nOK\r\n"))
	if got := appRead(t, f, 6); string(got) != "\r\nOK\r\n" {
		t.Fatalf("application read %q", got)
	}
}

func TestReopenRepeatedly(t *testing.T) {
	tp := openPTY(t, ptyside.Config{})
	tp.startPump(t)
	for i := range 5 {
		f := openApp(t, tp)
		msg := []byte{'A', 'T', byte('0' + i), '\r'}
		appWrite(t, f, msg)
		if got := tp.readN(t, len(msg)); !bytes.Equal(got, msg) {
			t.Fatalf("round %d: device read %q, want %q", i, got, msg)
		}
		reply := []byte{'O', 'K', byte('0' + i)}
		devWrite(t, tp, reply)
		if got := appRead(t, f, len(reply)); !bytes.Equal(got, reply) {
			t.Fatalf("round %d: application read %q, want %q", i, got, reply)
		}
		closeApp(t, tp, f)
	}
}

func TestLastWordsBeforeClose(t *testing.T) {
	// What an application writes just before it closes the tty still
	// reaches the device.
	tp := openPTY(t, ptyside.Config{})
	f := openApp(t, tp)
	appWrite(t, f, []byte("+++ATH\r"))
	closeApp(t, tp, f)
	tp.startPump(t)
	g := openApp(t, tp)
	appWrite(t, g, []byte("X"))
	if got := tp.readN(t, 8); string(got) != "+++ATH\rX" {
		t.Fatalf("device read %q", got)
	}
}

func TestShortLivedApplication(t *testing.T) {
	// An application that opens the tty, writes and closes it again may
	// come and go before the device notices it; what it wrote is still
	// read.
	tp := openPTY(t, ptyside.Config{})
	tp.startPump(t)
	for i := range 3 {
		f, err := os.OpenFile(tp.Link(), os.O_WRONLY|syscall.O_NOCTTY, 0)
		if err != nil {
			t.Fatal(err)
		}
		msg := []byte{'A', 'T', 'S', byte('0' + i), '\r'}
		appWrite(t, f, msg)
		f.Close()
		if got := tp.readN(t, len(msg)); !bytes.Equal(got, msg) {
			t.Fatalf("device read %q, want %q", got, msg)
		}
	}
}

func TestNoReplayToNextApplication(t *testing.T) {
	for _, tc := range []struct {
		name string
		// stale writes output the next application must not see.
		stale func(t *testing.T, tp *testPTY)
		// dropped is how much of it Dropped must count.
		dropped uint64
	}{
		{"written while detached", func(t *testing.T, tp *testPTY) {
			devWrite(t, tp, []byte("STALE-DETACHED"))
		}, 14},
		{"left unread by the previous application", func(t *testing.T, tp *testPTY) {
			f := openApp(t, tp)
			devWrite(t, tp, []byte("STALE-UNREAD"))
			closeApp(t, tp, f)
		}, 0},
		{"both", func(t *testing.T, tp *testPTY) {
			f := openApp(t, tp)
			devWrite(t, tp, []byte("STALE-UNREAD"))
			closeApp(t, tp, f)
			devWrite(t, tp, []byte("STALE-DETACHED"))
		}, 14},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tp := openPTY(t, ptyside.Config{})
			tc.stale(t, tp)
			if got := tp.Dropped(); got != tc.dropped {
				t.Errorf("Dropped() = %d, want %d", got, tc.dropped)
			}
			f := openApp(t, tp)
			devWrite(t, tp, []byte("FRESH"))
			if got := appRead(t, f, 5); string(got) != "FRESH" {
				t.Fatalf("next application read %q first, want FRESH", got)
			}
			// Nothing else is waiting behind it.
			f.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			if n, err := f.Read(make([]byte, 64)); !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("application read %d more bytes (%v), want none", n, err)
			}
		})
	}
}

func TestStateResetForNextApplication(t *testing.T) {
	// An application that leaves echo on and the tty in exclusive mode
	// (TIOCEXCL, which locks out every non-root opener) does not pass
	// either on to the next one.
	tp := openPTY(t, ptyside.Config{})
	f := openApp(t, tp)
	control(t, f, func(fd int) error {
		tio, err := unix.IoctlGetTermios(fd, unix.TCGETS)
		if err != nil {
			return err
		}
		tio.Lflag |= unix.ECHO | unix.ICANON
		if err := unix.IoctlSetTermios(fd, unix.TCSETS, tio); err != nil {
			return err
		}
		return unix.IoctlSetInt(fd, unix.TIOCEXCL, 0)
	})
	closeApp(t, tp, f)

	g := openApp(t, tp)
	control(t, g, func(fd int) error {
		tio, err := unix.IoctlGetTermios(fd, unix.TCGETS)
		if err != nil {
			return err
		}
		if tio.Lflag&(unix.ECHO|unix.ICANON) != 0 {
			t.Errorf("next application finds lflag %#x, want ECHO and ICANON clear", tio.Lflag)
		}
		excl, err := unix.IoctlGetInt(fd, unix.TIOCGEXCL)
		if err != nil {
			return err
		}
		if excl != 0 {
			t.Error("next application finds the tty in exclusive mode")
		}
		return nil
	})
}

func TestWriteWhileDetached(t *testing.T) {
	tp := openPTY(t, ptyside.Config{})
	var total uint64
	for _, n := range []int{0, 1, 100, 70000} {
		devWrite(t, tp, make([]byte, n))
		total += uint64(n)
	}
	if got := tp.Dropped(); got != total {
		t.Fatalf("Dropped() = %d, want %d", got, total)
	}
}

func TestBlockedWriteReturns(t *testing.T) {
	for _, tc := range []struct {
		name    string
		release func(t *testing.T, tp *testPTY, app *os.File)
		wantErr error
	}{
		{"application leaves", func(t *testing.T, tp *testPTY, app *os.File) {
			closeApp(t, tp, app)
		}, nil},
		{"device closed", func(t *testing.T, tp *testPTY, app *os.File) {
			if err := tp.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		}, ptyside.ErrClosed},
		{"write deadline", func(t *testing.T, tp *testPTY, app *os.File) {
			tp.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
		}, os.ErrDeadlineExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tp := openPTY(t, ptyside.Config{})
			f := openApp(t, tp)
			// Far more than the kernel buffers, for an application
			// that never reads.
			big := make([]byte, 1<<20)
			type result struct {
				n   int
				err error
			}
			res := make(chan result, 1)
			go func() {
				n, err := tp.Write(big)
				res <- result{n, err}
			}()
			tc.release(t, tp, f)
			select {
			case r := <-res:
				if !errors.Is(r.err, tc.wantErr) {
					t.Fatalf("Write error %v, want %v", r.err, tc.wantErr)
				}
				if tc.wantErr == nil && r.n != len(big) {
					t.Fatalf("Write = %d, want %d", r.n, len(big))
				}
				if tc.wantErr == nil && tp.Dropped() == 0 {
					t.Error("the undelivered rest was not counted as dropped")
				}
			case <-time.After(hangGuard):
				t.Fatal("Write still blocked")
			}
		})
	}
}

func TestCloseUnblocksRead(t *testing.T) {
	for _, attach := range []bool{false, true} {
		name := map[bool]string{false: "detached", true: "attached"}[attach]
		t.Run(name, func(t *testing.T) {
			tp := openPTY(t, ptyside.Config{})
			if attach {
				openApp(t, tp)
			}
			errc := make(chan error, 1)
			go func() {
				_, err := tp.Read(make([]byte, 16))
				errc <- err
			}()
			time.Sleep(20 * time.Millisecond) // Usually lets Read block first; the test passes either way.
			if err := tp.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			select {
			case err := <-errc:
				for _, target := range []error{ptyside.ErrClosed, os.ErrClosed, net.ErrClosed} {
					if !errors.Is(err, target) {
						t.Errorf("Read error %v is not %v", err, target)
					}
				}
			case <-time.After(hangGuard):
				t.Fatal("Read still blocked after Close")
			}
			if _, err := tp.Write([]byte("x")); !errors.Is(err, ptyside.ErrClosed) {
				t.Errorf("Write after Close: %v, want ErrClosed", err)
			}
			if _, err := tp.Read(make([]byte, 1)); !errors.Is(err, ptyside.ErrClosed) {
				t.Errorf("Read after Close: %v, want ErrClosed", err)
			}
		})
	}
}

func TestNoGoroutineOutlivesClose(t *testing.T) {
	before := runtime.NumGoroutine()
	for range 3 {
		tp := openPTY(t, ptyside.Config{})
		tp.startPump(t)
		f := openApp(t, tp)
		appWrite(t, f, []byte("x"))
		tp.readN(t, 1)
		f.Close()
		tp.Close()
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

// control runs fn on the descriptor of f, failing the test on error.
func control(t *testing.T, f *os.File, fn func(fd int) error) {
	t.Helper()
	rc, err := f.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = fn(int(fd)) }); err != nil {
		t.Fatal(err)
	}
	if ferr != nil {
		t.Fatal(ferr)
	}
}

func mustSymlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

func mustWrite(t *testing.T, path string) {
	t.Helper()
	if err := os.WriteFile(path, []byte("not a tty"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestReadDeadline(t *testing.T) {
	p, err := ptyside.Open(ptyside.Config{Link: filepath.Join(t.TempDir(), "tty")})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for _, attached := range []bool{false, true} {
		if attached {
			app, err := os.OpenFile(p.Link(), os.O_RDWR|syscall.O_NOCTTY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer app.Close()
		}
		errc := make(chan error, 1)
		go func() {
			_, err := p.Read(make([]byte, 10))
			errc <- err
		}()
		time.Sleep(20 * time.Millisecond)
		p.SetReadDeadline(time.Unix(1, 0))
		select {
		case err := <-errc:
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("attached %v: Read returned %v", attached, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("attached %v: a passed deadline did not unblock Read", attached)
		}
		p.SetReadDeadline(time.Time{})
	}
}
