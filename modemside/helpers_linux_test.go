package modemside

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/c2cbridge/c2cbridge/at"
	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// hangGuard bounds every wait in these tests; nothing should come close.
const hangGuard = 10 * time.Second

// helperEnv names the variable that turns the test binary into the open
// helper of TestExclusiveAgainstUnprivilegedOpen.
const helperEnv = "MODEMSIDE_TEST_OPEN_HELPER"

func TestMain(m *testing.M) {
	if path := os.Getenv(helperEnv); path != "" {
		os.Exit(openHelper(path))
	}
	os.Exit(m.Run())
}

// openHelper tries to Open path and prints what happened: "opened",
// "ErrBusy" or "error: ...".
func openHelper(path string) int {
	p, err := Open(Config{Device: path, FlowControl: FlowNone})
	switch {
	case err == nil:
		p.Close()
		fmt.Println("opened")
	case errors.Is(err, ErrBusy):
		fmt.Println("ErrBusy")
	default:
		fmt.Println("error:", err)
	}
	return 0
}

// newPTY makes a pty pair and returns its master and the slave's path, the
// stand-in for a UART. The test keeps a descriptor of the slave open too
// (so the master never sees a hangup); both are closed at cleanup.
func newPTY(t *testing.T) (master *os.File, path string) {
	t.Helper()
	m, s, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	// creack/pty calls Fd() on the master, which takes it off the poller:
	// Close would not wake a blocked Read. Use a non-blocking duplicate.
	fd, err := unix.Dup(int(m.Fd()))
	m.Close()
	if err != nil {
		s.Close()
		t.Fatalf("dup pty master: %v", err)
	}
	unix.CloseOnExec(fd)
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		s.Close()
		t.Fatalf("pty master non-blocking: %v", err)
	}
	master = os.NewFile(uintptr(fd), "/dev/ptmx")
	t.Cleanup(func() {
		master.Close()
		s.Close()
	})
	return master, s.Name()
}

// openPTY opens a Port on a new pty with cfg (Device filled in).
func openPTY(t *testing.T, cfg Config) (*Port, *os.File) {
	t.Helper()
	master, path := newPTY(t)
	cfg.Device = path
	p, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open(%+v): %v", cfg, err)
	}
	t.Cleanup(func() { p.Close() })
	return p, master
}

// termios reads the line settings of the tty at path.
func termios(t *testing.T, path string) *unix.Termios {
	t.Helper()
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOCTTY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("open %s to read its settings: %v", path, err)
	}
	defer unix.Close(fd)
	tio, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		t.Fatalf("TCGETS %s: %v", path, err)
	}
	return tio
}

// inputQueued reports how many bytes the master can read (TIOCINQ),
// without taking the master off the poller as Fd() would.
func inputQueued(t *testing.T, f *os.File) int {
	t.Helper()
	rc, err := f.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	var ierr error
	if err := rc.Control(func(fd uintptr) { n, ierr = unix.IoctlGetInt(int(fd), unix.TIOCINQ) }); err != nil {
		t.Fatal(err)
	}
	if ierr != nil {
		t.Fatalf("TIOCINQ: %v", ierr)
	}
	return n
}

// fakeModule plays a tiny module on the master side of a pty: for every
// command line it receives, it writes back what answer returns (raw bytes,
// echo and CR LF included). It stops when the master is closed.
type fakeModule struct {
	mu       sync.Mutex
	commands []string
	done     chan struct{}
}

// startModule starts a fakeModule on master; cleanup closes master and
// waits for it.
func startModule(t *testing.T, master *os.File, answer func(cmd string) string) *fakeModule {
	t.Helper()
	fm := &fakeModule{done: make(chan struct{})}
	go func() {
		defer close(fm.done)
		var split at.LineSplitter
		buf := make([]byte, 256)
		for {
			n, err := master.Read(buf)
			var lines []string
			split.Feed(buf[:n], func(l string) { lines = append(lines, l) })
			for _, l := range lines {
				fm.mu.Lock()
				fm.commands = append(fm.commands, l)
				fm.mu.Unlock()
				if a := answer(l); a != "" {
					if _, err := master.WriteString(a); err != nil {
						return
					}
				}
			}
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		master.Close()
		<-fm.done
	})
	return fm
}

// received returns the command lines the module has seen so far.
func (fm *fakeModule) received() []string {
	fm.mu.Lock()
	defer fm.mu.Unlock()
	return append([]string(nil), fm.commands...)
}

// waitErr waits for an error from ch, failing the test after hangGuard.
func waitErr(t *testing.T, ch <-chan error, what string) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(hangGuard):
		t.Fatalf("%s did not return within %v", what, hangGuard)
		return nil
	}
}
