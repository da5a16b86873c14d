package modemside

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestOpenLineSettings(t *testing.T) {
	// A pty keeps the stop bits and CRTSCTS, but forces CS8 and clears
	// PARENB whatever is asked, so those two are only checked to be
	// accepted.
	for _, parity := range []string{"", "none", "even", "odd"} {
		for _, bits := range []int{0, 5, 6, 7, 8} {
			for _, stop := range []int{0, 1, 2} {
				for _, flow := range []string{"", "rtscts", "none"} {
					cfg := Config{DataBits: bits, Parity: parity, StopBits: stop, FlowControl: flow}
					t.Run(fmt.Sprintf("parity=%q/bits=%d/stop=%d/flow=%q", parity, bits, stop, flow), func(t *testing.T) {
						p, _ := openPTY(t, cfg)
						tio := termios(t, p.device)
						if got, want := tio.Cflag&unix.CSTOPB != 0, stop == 2; got != want {
							t.Errorf("CSTOPB = %v, want %v", got, want)
						}
						if got, want := tio.Cflag&unix.CRTSCTS != 0, flow != "none"; got != want {
							t.Errorf("CRTSCTS = %v, want %v", got, want)
						}
						if tio.Cflag&unix.CLOCAL == 0 {
							t.Errorf("CLOCAL not set")
						}
						if tio.Lflag&(unix.ICANON|unix.ECHO) != 0 {
							t.Errorf("line not raw: lflag %#o", tio.Lflag)
						}
					})
				}
			}
		}
	}
}

func TestOpenBaud(t *testing.T) {
	for _, tt := range []struct {
		baud  int
		cbaud uint32 // 0: not checked (set through BOTHER)
	}{
		{0, unix.B115200},
		{9600, unix.B9600},
		{115200, unix.B115200},
		{921600, unix.B921600},
		{250000, 0},
	} {
		t.Run(strconv.Itoa(tt.baud), func(t *testing.T) {
			// Baud 0 takes the default: the line says B115200.
			p, _ := openPTY(t, Config{Baud: tt.baud})
			if tt.cbaud == 0 {
				return
			}
			if got := termios(t, p.device).Cflag & (unix.CBAUD | unix.CBAUDEX); got != tt.cbaud {
				t.Errorf("CBAUD = %#o, want %#o", got, tt.cbaud)
			}
		})
	}
}

func TestFlowControlAfterReopen(t *testing.T) {
	// The library clears CRTSCTS at every open: ours must set it again.
	master, path := newPTY(t)
	_ = master
	for _, flow := range []string{"rtscts", "none", "rtscts"} {
		p, err := Open(Config{Device: path, FlowControl: flow})
		if err != nil {
			t.Fatalf("Open(flow %s): %v", flow, err)
		}
		if got, want := termios(t, path).Cflag&unix.CRTSCTS != 0, flow == "rtscts"; got != want {
			t.Errorf("flow %s: CRTSCTS = %v, want %v", flow, got, want)
		}
		if err := p.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
}

func TestOpenMissingDevice(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ttyUSB9")
	_, err := Open(Config{Device: path})
	if !errors.Is(err, ErrNoDevice) {
		t.Fatalf("Open(missing) = %v, want ErrNoDevice", err)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open(missing) = %v, want it to wrap fs.ErrNotExist too", err)
	}
	for _, want := range []string{path, "modem.device", "/dev/serial/by-id"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q does not mention %q", err, want)
		}
	}
}

func TestOpenNotATerminal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plain-file")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(Config{Device: path})
	if err == nil || !strings.Contains(err.Error(), "not a serial port") || !strings.Contains(err.Error(), path) {
		t.Fatalf("Open(regular file) = %v, want a 'not a serial port' error naming the path", err)
	}
}

func TestOpenInvalidConfig(t *testing.T) {
	_, path := newPTY(t)
	_, err := Open(Config{Device: path, Parity: "bogus"})
	if err == nil || !strings.Contains(err.Error(), "modem.parity") {
		t.Fatalf("Open(bad parity) = %v, want an error naming modem.parity", err)
	}
}

func TestOpenTwiceIsBusy(t *testing.T) {
	// Works as root too: Open refuses a tty whose exclusive flag is set.
	p, _ := openPTY(t, Config{})
	path := p.device
	_, err := Open(Config{Device: path})
	if !errors.Is(err, ErrBusy) {
		t.Fatalf("second Open = %v, want ErrBusy", err)
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("message %q does not name %s", err, path)
	}
	// Closing releases the device.
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	p2, err := Open(Config{Device: path})
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	p2.Close()
}

// TestExclusiveAgainstUnprivilegedOpen checks TIOCEXCL the way the kernel
// enforces it: against a process without CAP_SYS_ADMIN. It runs this test
// binary as nobody (setpriv), on a device node everyone may open, so that
// the only reason for the helper to fail is the exclusive flag.
func TestExclusiveAgainstUnprivilegedOpen(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run the helper as another user")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("setpriv not installed")
	}
	_, path := newPTY(t)
	if err := os.Chmod(path, 0o666); err != nil {
		t.Fatal(err)
	}
	helper := copyTestBinary(t)
	run := func() string {
		t.Helper()
		cmd := exec.Command(setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", helper, "-test.run=^$")
		// GORACE: a race-enabled binary otherwise sleeps a second at exit.
		cmd.Env = append(os.Environ(), helperEnv+"="+path, "GORACE=atexit_sleep_ms=0")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Skipf("cannot run the helper as nobody: %v: %s", err, out)
		}
		return strings.TrimSpace(string(out))
	}

	// Control: before Open, nobody can open the device.
	if got := run(); got != "opened" {
		t.Skipf("as nobody, the helper cannot open %s even before Open: %s", path, got)
	}
	p, err := Open(Config{Device: path})
	if err != nil {
		t.Fatal(err)
	}
	if got := run(); got != "ErrBusy" {
		t.Errorf("as nobody, with the port open: %s, want ErrBusy", got)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if got := run(); got != "opened" {
		t.Errorf("as nobody, after Close: %s, want opened", got)
	}

	// Without the right to open it, the message says what to fix.
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := run(); !strings.Contains(got, "permission denied") || !strings.Contains(got, "dialout") || !strings.Contains(got, path) {
		t.Errorf("as nobody, on a 0600 device: %s, want a permission error naming the path and the dialout group", got)
	}
}

// copyTestBinary copies this test binary where nobody can run it.
func copyTestBinary(t *testing.T) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "modemside-helper-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "helper")
	if err := os.WriteFile(dst, src, 0o755); err != nil {
		t.Fatal(err)
	}
	return dst
}

func TestDescriptorsCloseOnExec(t *testing.T) {
	p, _ := openPTY(t, Config{})
	dev, err := os.Stat(p.device)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	found := 0
	for _, e := range entries {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := os.Stat(filepath.Join("/proc/self/fd", e.Name()))
		if err != nil || !os.SameFile(st, dev) {
			continue
		}
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err != nil {
			continue // closed meanwhile
		}
		found++
		if flags&unix.FD_CLOEXEC == 0 {
			t.Errorf("descriptor %d of %s is not close-on-exec", fd, p.device)
		}
	}
	// The test's own slave descriptor, ours and the library's.
	if found < 3 {
		t.Errorf("found %d descriptors of the device, want at least 3", found)
	}
}

func TestReadWrite(t *testing.T) {
	p, master := openPTY(t, Config{})

	if _, err := p.Write([]byte("AT\r")); err != nil {
		t.Fatalf("Write: %v", err)
	}
	got := make([]byte, 3)
	master.SetReadDeadline(time.Now().Add(hangGuard))
	if _, err := io.ReadFull(master, got); err != nil || string(got) != "AT\r" {
		t.Fatalf("master read %q, %v; want %q", got, err, "AT\r")
	}

	// Binary data passes untouched both ways (raw mode).
	frame := []byte{0xF9, 0x30, 0x00, '\r', '\n', 0x11, 0x13, 0x03, 0x7F, 0xF9}
	if _, err := master.Write(frame); err != nil {
		t.Fatal(err)
	}
	p.SetReadDeadline(time.Now().Add(hangGuard))
	back := make([]byte, len(frame))
	if _, err := io.ReadFull(p, back); err != nil || !bytes.Equal(back, frame) {
		t.Fatalf("port read % x, %v; want % x", back, err, frame)
	}
	if _, err := p.Write(frame); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(master, back); err != nil || !bytes.Equal(back, frame) {
		t.Fatalf("master read % x, %v; want % x", back, err, frame)
	}
}

func TestCloseUnblocksRead(t *testing.T) {
	p, _ := openPTY(t, Config{})
	done := make(chan error, 1)
	go func() {
		_, err := p.Read(make([]byte, 16))
		done <- err
	}()
	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := waitErr(t, done, "Read after Close"); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Read = %v, want os.ErrClosed", err)
	}
}

func TestCloseUnblocksWrite(t *testing.T) {
	p, master := openPTY(t, Config{})
	// Nobody reads the master: the pty's buffer fills and Write blocks.
	big := make([]byte, 4<<20)
	done := make(chan error, 1)
	go func() {
		n, err := p.Write(big)
		if err == nil {
			err = fmt.Errorf("wrote all %d bytes into a pty nobody reads", n)
		}
		done <- err
	}()
	// Wait until the write has started, so Close meets it in flight.
	for start := time.Now(); inputQueued(t, master) == 0; time.Sleep(time.Millisecond) {
		if time.Since(start) > hangGuard {
			t.Fatal("nothing written to the pty")
		}
	}
	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := waitErr(t, done, "Write after Close"); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Write = %v, want os.ErrClosed", err)
	}
}

func TestAfterClose(t *testing.T) {
	p, _ := openPTY(t, Config{})
	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := p.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
	if _, err := p.Read(make([]byte, 1)); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Read = %v, want os.ErrClosed", err)
	}
	if _, err := p.Write([]byte("AT\r")); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Write = %v, want os.ErrClosed", err)
	}
	if _, err := p.OutputQueued(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("OutputQueued = %v, want os.ErrClosed", err)
	}
	if err := p.SetReadDeadline(time.Now()); !errors.Is(err, os.ErrClosed) {
		t.Errorf("SetReadDeadline = %v, want os.ErrClosed", err)
	}
}

func TestDeadlines(t *testing.T) {
	p, master := openPTY(t, Config{})

	// Read: an expired deadline fails the pending Read ...
	p.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, err := p.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read past its deadline = %v, want os.ErrDeadlineExceeded", err)
	}
	// ... and clearing it lets the next one wait for data.
	p.SetReadDeadline(time.Time{})
	if _, err := master.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if n, err := p.Read(make([]byte, 1)); n != 1 || err != nil {
		t.Fatalf("Read after clearing the deadline = %d, %v", n, err)
	}

	// Write: fill the pty until a Write blocks, then let the deadline end it.
	p.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
	n, err := p.Write(make([]byte, 4<<20))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Write past its deadline = %d, %v; want os.ErrDeadlineExceeded", n, err)
	}
	if n == 0 || inputQueued(t, master) == 0 {
		t.Errorf("Write reported %d bytes queued, the master holds %d", n, inputQueued(t, master))
	}
	p.SetDeadline(time.Time{})
}

func TestOutputQueued(t *testing.T) {
	p, _ := openPTY(t, Config{})
	// A pty has no output queue to speak of: 0, or an error.
	if n, err := p.OutputQueued(); err == nil && n != 0 {
		t.Errorf("OutputQueued on an idle pty = %d, want 0", n)
	}
}
