package modemside

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/c2cbridge/c2cbridge/internal/rawio"
	"go.bug.st/serial"
	"golang.org/x/sys/unix"
)

// Sentinel errors Open returns (wrapped); callers tell them apart with errors.Is.
var (
	// ErrNoDevice is returned (wrapped) when the device path does not
	// exist or has no device behind it; the message says what to check.
	ErrNoDevice = errors.New("modem device not found")
	// ErrBusy is returned (wrapped) when another process holds the device
	// exclusively (EBUSY, or the exclusive flag already set when running as
	// root).
	ErrBusy = errors.New("modem device is in use by another program")
)

// Port is an open UART. It is an io.ReadWriteCloser whose Read blocks until
// data arrives (it never returns 0, nil for a non-empty buffer), whose Close
// unblocks pending Read AND Write (they then return an error wrapping
// os.ErrClosed, as does every call after Close), and which supports
// deadlines (an expired one makes Read or Write return an error wrapping
// os.ErrDeadlineExceeded). Read returns io.EOF or an I/O error when the
// device goes away (a USB adapter unplugged, say).
//
// Read and Write may be called from different goroutines at the same time;
// two concurrent Reads (or Writes) are safe but interleave unpredictably.
type Port struct {
	device string          // the path it was opened with, for messages
	file   *os.File        // our non-blocking descriptor: all I/O goes through it
	rc     syscall.RawConn // of file: Read and Write use raw system calls (internal/rawio)
	serial serial.Port     // holds the line settings and TIOCEXCL; never read or written

	closed    atomic.Bool
	closeOnce sync.Once
}

var _ DeadlineReadWriter = (*Port)(nil)

// Open opens and configures the UART cfg.Device with cfg's line settings
// (zero fields take their defaults; cfg.Pace is not a setting of the UART
// and is ignored) and takes it exclusively. An invalid setting is reported
// as Config.Validate words it.
//
// It returns an error wrapping ErrNoDevice when the device does not exist,
// ErrBusy when another program holds it exclusively, and an error wrapping
// fs.ErrPermission when the service may not open it. With flow control
// "rtscts", it fails when the driver does not keep CRTSCTS set (an adapter
// without hardware flow control), except on a pseudo-terminal.
func Open(cfg Config) (*Port, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	path := cfg.Device

	// Our descriptor comes first: once the library has set TIOCEXCL, an
	// unprivileged open of the device fails with EBUSY, ours included.
	// O_NONBLOCK also keeps open from waiting for carrier detect.
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_NOCTTY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, openError(path, err)
	}
	// From here on, the descriptor is only used through file (and, while
	// Open runs, by number for ioctls). Never call file.Fd(): it would put
	// the descriptor back into blocking mode and take it off the poller.
	file := os.NewFile(uintptr(fd), path)
	ok := false
	defer func() {
		if !ok {
			file.Close()
		}
	}()

	if _, err := unix.IoctlGetTermios(fd, unix.TCGETS); err != nil {
		return nil, fmt.Errorf("open modem %s: not a serial port: %w", path, err)
	}
	// Root ignores TIOCEXCL, so as root we would open a line another bridge
	// is using. The exclusive flag is per tty: if it is set, someone else
	// holds it. (An error here means an old kernel without TIOCGEXCL.)
	if excl, err := unix.IoctlGetUint32(fd, unix.TIOCGEXCL); err == nil && excl != 0 {
		return nil, busyError(path, errors.New("the exclusive flag (TIOCEXCL) is already set"))
	}

	sp, err := openSerial(path, serialMode(cfg))
	if err != nil {
		return nil, serialError(cfg, err)
	}
	defer func() {
		if !ok {
			sp.Close()
		}
	}()
	// The library sets TIOCEXCL but ignores a failure: check it ourselves.
	if err := unix.IoctlSetInt(fd, unix.TIOCEXCL, 0); err != nil {
		return nil, fmt.Errorf("open modem %s: take it exclusively (TIOCEXCL): %w", path, err)
	}
	if err := setFlowControl(fd, cfg); err != nil {
		return nil, err
	}
	// A descriptor that is not on the poller would make deadlines fail and
	// Close unable to wake a blocked Read or Write.
	if err := file.SetDeadline(time.Time{}); err != nil {
		return nil, fmt.Errorf("open modem %s: deadlines not supported: %w", path, err)
	}
	rc, err := file.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("open modem %s: %w", path, err)
	}
	ok = true
	return &Port{device: path, file: file, rc: rc, serial: sp}, nil
}

// openError explains why opening the device failed.
func openError(path string, err error) error {
	switch {
	case errors.Is(err, unix.ENOENT), errors.Is(err, unix.ENODEV), errors.Is(err, unix.ENXIO):
		return fmt.Errorf("open modem %s: %w: check modem.device, that the modem is plugged in and powered, and what ls -l /dev/serial/by-id/ lists (%w)", path, ErrNoDevice, err)
	case errors.Is(err, unix.EBUSY):
		return busyError(path, err)
	case errors.Is(err, unix.EACCES), errors.Is(err, unix.EPERM):
		return fmt.Errorf("open modem %s: %w (the service user needs read and write access to it, usually through the dialout group)", path, err)
	}
	return fmt.Errorf("open modem %s: %w", path, err)
}

// busyError reports that another program holds the device.
func busyError(path string, cause error) error {
	return fmt.Errorf("open modem %s: %w: stop the other program using it (another c2cbridge, ModemManager, a terminal program); see fuser -v %s (%w)", path, ErrBusy, path, cause)
}

// serialMode turns a Config with defaults applied into the library's Mode.
// InitialStatusBits stays nil: the library then leaves DTR and RTS as the
// kernel set them at open (raised), whatever its comment says.
func serialMode(cfg Config) *serial.Mode {
	m := &serial.Mode{BaudRate: cfg.Baud, DataBits: cfg.DataBits, StopBits: serial.OneStopBit}
	switch cfg.Parity {
	case ParityEven:
		m.Parity = serial.EvenParity
	case ParityOdd:
		m.Parity = serial.OddParity
	default:
		m.Parity = serial.NoParity
	}
	if cfg.StopBits == 2 {
		m.StopBits = serial.TwoStopBits
	}
	return m
}

// serialError explains a failure of serial.Open.
func serialError(cfg Config, err error) error {
	path := cfg.Device
	var pe *serial.PortError
	if errors.As(err, &pe) {
		switch pe.Code() {
		case serial.PortBusy:
			return busyError(path, err)
		case serial.PermissionDenied:
			return openError(path, unix.EACCES)
		}
	}
	var errno unix.Errno
	if errors.As(err, &errno) {
		// The library returns open(2) errors as they are: the device may
		// have gone between our open and the library's.
		return openError(path, err)
	}
	return fmt.Errorf("open modem %s: configure %d baud, %d data bits, parity %s, %d stop bits: %w",
		path, cfg.Baud, cfg.DataBits, cfg.Parity, cfg.StopBits, err)
}

// openSerial calls serial.Open and marks the descriptors it creates
// close-on-exec. go.bug.st/serial v1.8.0 opens the device and the pipe it
// uses to wake its Read without O_CLOEXEC, so every program the daemon
// starts would otherwise inherit a descriptor of the modem line. Holding
// syscall.ForkLock for reading keeps a concurrent fork from seeing them
// before they are marked, as the syscall package documents.
func openSerial(path string, mode *serial.Mode) (serial.Port, error) {
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	before, errBefore := openFDs()
	sp, err := serial.Open(path, mode)
	if err != nil {
		return nil, err
	}
	if errBefore != nil {
		return sp, nil // no /proc: nothing to compare against; leave them
	}
	after, err := openFDs()
	if err != nil {
		return sp, nil
	}
	for fd := range after {
		if !before[fd] {
			unix.CloseOnExec(fd)
		}
	}
	return sp, nil
}

// openFDs lists this process's open descriptors, leaving out the one it
// uses to read the list (its number is free again when openFDs returns).
func openFDs() (map[int]bool, error) {
	dir, err := os.Open("/proc/self/fd")
	if err != nil {
		return nil, fmt.Errorf("list open descriptors: %w", err)
	}
	defer dir.Close()
	names, err := dir.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("list open descriptors: %w", err)
	}
	self := int(dir.Fd())
	fds := make(map[int]bool, len(names))
	for _, name := range names {
		if n, err := strconv.Atoi(name); err == nil && n != self {
			fds[n] = true
		}
	}
	return fds, nil
}

// setFlowControl sets (rtscts) or clears (none) CRTSCTS through fd. The
// library clears it when it opens the port and has no setting for it; its
// SetMode (unused here) keeps whatever is set. Anything that reconfigures
// the line through the library must call this again.
func setFlowControl(fd int, cfg Config) error {
	want := cfg.FlowControl == FlowRTSCTS
	tio, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return fmt.Errorf("open modem %s: read line settings: %w", cfg.Device, err)
	}
	if want {
		tio.Cflag |= unix.CRTSCTS
	} else {
		tio.Cflag &^= unix.CRTSCTS
	}
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, tio); err != nil {
		return fmt.Errorf("open modem %s: set flow control %s: %w", cfg.Device, cfg.FlowControl, err)
	}
	// A driver that cannot do it clears CRTSCTS without an error: read back.
	tio, err = unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return fmt.Errorf("open modem %s: read line settings: %w", cfg.Device, err)
	}
	if got := tio.Cflag&unix.CRTSCTS != 0; got != want && !isPseudoTerminal(fd) {
		return fmt.Errorf("open modem %s: modem.flow_control is %s but the driver does not keep RTS/CTS flow control set: use an adapter and wiring with RTS/CTS, or set modem.flow_control: none (one lost byte loses a whole C2C frame)", cfg.Device, cfg.FlowControl)
	}
	return nil
}

// isPseudoTerminal reports whether fd is a pty slave (Unix98 or legacy),
// where some termios flags do not stick and modem-line ioctls fail.
func isPseudoTerminal(fd int) bool {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return false
	}
	major := unix.Major(uint64(st.Rdev))
	return major == 3 || (major >= 136 && major <= 143)
}

// Read reads what the module sent, blocking until at least one byte has
// arrived, the read deadline passes or the port is closed.
func (p *Port) Read(b []byte) (int, error) {
	n, err := rawio.Read(p.rc, b)
	if err != nil {
		err = fmt.Errorf("read %s: %w", p.device, err)
	}
	return n, err
}

// Write sends b to the module. It blocks while the driver's buffer is full
// (for example while the module holds CTS low) until everything is queued,
// the write deadline passes or the port is closed; n says how much was
// queued.
func (p *Port) Write(b []byte) (int, error) {
	n, err := rawio.Write(p.rc, b)
	if err != nil {
		err = fmt.Errorf("write %s: %w", p.device, err)
	}
	return n, err
}

// SetReadDeadline sets the time after which a pending and future Reads fail
// with an error wrapping os.ErrDeadlineExceeded; the zero time clears it.
func (p *Port) SetReadDeadline(t time.Time) error {
	return p.closedErr(p.file.SetReadDeadline(t))
}

// SetWriteDeadline sets the time after which a pending and future Writes
// fail with an error wrapping os.ErrDeadlineExceeded; the zero time clears
// it. A Write that times out may have queued part of b.
func (p *Port) SetWriteDeadline(t time.Time) error {
	return p.closedErr(p.file.SetWriteDeadline(t))
}

// SetDeadline sets both the read and the write deadline.
func (p *Port) SetDeadline(t time.Time) error {
	return p.closedErr(p.file.SetDeadline(t))
}

// closedErr makes err wrap os.ErrClosed when the port is closed: for
// deadlines and SyscallConn, os.File passes on the poller's own "use of
// closed file" error, which does not.
func (p *Port) closedErr(err error) error {
	if err == nil || !p.closed.Load() || errors.Is(err, os.ErrClosed) {
		return err
	}
	return fmt.Errorf("%s: %w (%v)", p.device, os.ErrClosed, err)
}

// OutputQueued reports how many bytes wait in the driver's output queue
// (TIOCOUTQ): written, but not yet sent on the line. A pseudo-terminal
// reports 0 or an error. After Close it returns an error wrapping
// os.ErrClosed.
func (p *Port) OutputQueued() (int, error) {
	rc, err := p.file.SyscallConn()
	if err != nil {
		return 0, fmt.Errorf("output queue of %s: %w", p.device, err)
	}
	var n uint32
	var ierr error
	err = rc.Control(func(fd uintptr) {
		n, ierr = unix.IoctlGetUint32(int(fd), unix.TIOCOUTQ)
	})
	if err != nil {
		if p.closed.Load() {
			return 0, fmt.Errorf("output queue: %w", p.closedErr(err))
		}
		return 0, fmt.Errorf("output queue of %s: %w", p.device, err)
	}
	if ierr != nil {
		return 0, fmt.Errorf("output queue of %s (TIOCOUTQ): %w", p.device, ierr)
	}
	return int(n), nil
}

// Close closes the port and releases the device. It wakes any pending Read
// or Write, which then return an error wrapping os.ErrClosed. Bytes still
// in the driver's output queue are discarded, so that closing never waits
// on a module that holds CTS low (the kernel would wait up to the port's
// closing_wait, 30 seconds by default): a caller that needs them sent waits
// for OutputQueued to reach 0 first. Close may be called more than once;
// calls after the first do nothing and return nil.
func (p *Port) Close() error {
	var err error
	p.closeOnce.Do(func() {
		p.closed.Store(true)
		// Our descriptor first: this wakes Read and Write, and since the
		// library's descriptor is still open it is not the tty's last
		// close, which would wait for the output queue to drain.
		errFile := p.file.Close()
		// Best effort: if the flush fails, the close below may wait for
		// the queue, which is slow but not wrong.
		_ = p.serial.ResetOutputBuffer()
		// The library clears TIOCEXCL (TIOCNXCL) and closes its descriptor.
		errSerial := p.serial.Close()
		if errFile != nil {
			errFile = fmt.Errorf("close modem %s: %w", p.device, errFile)
		}
		if errSerial != nil {
			errSerial = fmt.Errorf("close modem %s (serial library): %w", p.device, errSerial)
		}
		err = errors.Join(errFile, errSerial)
	})
	return err
}

// IsPTY reports whether the port is a pseudo-terminal (a simulated module
// in tests and benchmarks) rather than a real UART.
func (p *Port) IsPTY() bool {
	rc, err := p.file.SyscallConn()
	if err != nil {
		return false
	}
	pty := false
	rc.Control(func(fd uintptr) { pty = isPseudoTerminal(int(fd)) })
	return pty
}

// CarrierDetect reports the UART's DCD (carrier detect) line, as the
// module drives it with AT&C1: on while a call is up. A pseudo-terminal
// has no modem lines: it reports an error.
func (p *Port) CarrierDetect() (bool, error) {
	rc, err := p.file.SyscallConn()
	if err != nil {
		return false, fmt.Errorf("modem %s: carrier detect: %w", p.device, err)
	}
	var bits int
	var ioErr error
	if err := rc.Control(func(fd uintptr) { bits, ioErr = unix.IoctlGetInt(int(fd), unix.TIOCMGET) }); err != nil {
		return false, fmt.Errorf("modem %s: carrier detect: %w", p.device, err)
	}
	if ioErr != nil {
		return false, fmt.Errorf("modem %s: carrier detect: %w", p.device, ioErr)
	}
	return bits&unix.TIOCM_CAR != 0, nil
}
