package bridge

import (
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/c2cbridge/c2cbridge/at"
	"github.com/c2cbridge/c2cbridge/counters"
	c2c "github.com/c2cbridge/c2cbridge/crypto"
	"github.com/c2cbridge/c2cbridge/usec"
)

// Sizes and timings of the engine.
const (
	// readSize is how much one read of either side asks for.
	readSize = 64 << 10
	// maxHeld bounds the application input held while the session is not
	// ready (a bridge command in flight, a reopen): when it is full the
	// application side is no longer read, so nothing is dropped.
	maxHeld = 256 << 10
	// replayWindow is how many recent module frame IVs are remembered
	// (docs/protocol.md, "Replay window").
	replayWindow = 4096
	// closeTimeout bounds the wait for the answer to AT+USECC2C=2 at shutdown.
	closeTimeout = 5 * time.Second
	// shutdownBudget bounds the whole shutdown (ending a call, closing the
	// session), well under the unit's TimeoutStopSec (30 s) with the
	// second appFlushTime adds: then the modem connection is closed, which
	// ends whatever still waits on it.
	shutdownBudget = 20 * time.Second
	// defaultHeartbeat is how often Config.Heartbeat is called when
	// Config.HeartbeatInterval is not set.
	defaultHeartbeat = time.Second
)

// Errors Run returns; callers tell them apart with errors.Is.
var (
	// ErrNoAnswer: the module answered neither a plain nor an encrypted AT.
	ErrNoAnswer = errors.New("no answer from the module")
	// ErrRefused: the module refused to open a session with our te_secret.
	ErrRefused = errors.New("the module refused to open a secure session")
	// ErrModemLost: the UART failed (read or write error, EOF).
	ErrModemLost = errors.New("modem connection lost")
)

// ModemConn is the encrypted side: the module's UART. Read must return
// promptly with a timeout error (os.ErrDeadlineExceeded) once a read
// deadline passes, and Close must unblock a pending Read and Write.
type ModemConn interface {
	io.ReadWriteCloser
	SetReadDeadline(t time.Time) error
}

// CarrierDetector is implemented by a ModemConn that can read the UART's
// DCD (carrier detect) line. With Config.DCD the bridge asks it when a
// NO CARRIER appears in a call.
type CarrierDetector interface {
	CarrierDetect() (bool, error)
}

// App is the plaintext side: the virtual tty an application opens. Read
// blocks until the application writes (also while no application is
// attached); a read deadline must unblock it with a timeout error. Write
// delivers bytes to the application; the Bridge writes from a goroutine of
// its own, so a Write that blocks delays only the application's output.
type App interface {
	io.ReadWriter
	SetReadDeadline(t time.Time) error
	// SetWriteDeadline makes a Write blocked on an application that does
	// not read return once t has passed.
	SetWriteDeadline(t time.Time) error
}

// Config holds what a Bridge needs besides its two sides.
type Config struct {
	// Secrets are the pairing secrets; the Bridge keeps its own copy, and
	// the caller may zero theirs once New returns.
	Secrets *c2c.Secrets
	// Previous, if set, is the generation before Secrets, kept in the key
	// file until an authentic answer confirms Secrets; the start-up tries
	// it if Secrets get no answer, then saves the one that works. The
	// Bridge keeps its own copy only until then; the caller may zero
	// theirs once New returns.
	Previous *c2c.Secrets
	// Device names the UART in error messages.
	Device string
	// Baud is the line's bit rate (for telling a stalled frame from a slow one).
	Baud int
	// PaceBaud, if positive, paces upstream frames to this bit rate (10 bits
	// a byte) and gathers application bytes while the line is busy; 0
	// writes at once (a pseudo-terminal has no line rate).
	PaceBaud int
	// ProbeTimeout bounds the plain and encrypted AT probes; it must be set.
	ProbeTimeout time.Duration
	// OpenTimeout bounds the answer to AT+USECC2C=1; usec.Timeout when 0.
	OpenTimeout time.Duration
	// CommandTimeout bounds the answer to other security commands;
	// usec.Timeout when 0.
	CommandTimeout time.Duration
	// MaxFrame is the largest plaintext accepted in one module frame;
	// crypto.DefaultMaxPlaintext when 0.
	MaxFrame int
	// EscapeGuard is the quiet time around the "+++" escape (the module's
	// S12), the bridge's own and the application's; 1 s when 0.
	EscapeGuard time.Duration
	// DCD, if set, ends a call only when the UART's DCD line is off
	// (AT&C1) as a NO CARRIER arrives; the ModemConn must be a
	// CarrierDetector. Without it, the rules of stream.go tell the
	// module's NO CARRIER from call data.
	DCD bool
	// Dial, if set, reopens the modem after the connection failed (an
	// unplugged USB adapter); the bridge retries it with backoff. Without
	// it a failed connection ends Run with ErrModemLost. The Bridge owns
	// and closes every connection Dial returns.
	Dial func(ctx context.Context) (ModemConn, error)
	// Keepalive is the idle time after which the bridge checks the session
	// with an encrypted AT (0 disables).
	Keepalive time.Duration
	// RekeyInterval and RekeyBytes schedule rekeys (0 disables each).
	RekeyInterval time.Duration
	RekeyBytes    int64
	// Rand supplies IVs; crypto/rand.Reader when nil.
	Rand io.Reader
	// Logger receives one line per state change; slog.Default() when nil.
	Logger *slog.Logger
	// SaveSecrets, if set, persists secrets the module issued in a rekey:
	// first with the new generation in cur and the old one in prev (before
	// the new one is used), then with prev nil once an authentic answer has
	// confirmed the new generation (or, if it failed, the old one is back).
	SaveSecrets func(cur, prev *c2c.Secrets) error
	// CanSave, if set, is asked before every rekey whether the key file
	// can be written now (its directory exists and is writable); an error
	// skips the rekey. A rekey may bring new secrets, and secrets the
	// module uses but the disk does not hold are lost on a restart.
	CanSave func() error
	// Trace logs the plaintext AT lines each way (never data-mode bytes),
	// with the arguments of secret-bearing commands redacted. SetTrace
	// changes it while running.
	Trace bool
	// Heartbeat, if set, is called every HeartbeatInterval (1 s when 0)
	// while the engine's control loop is alive: in its own loop and in
	// every wait it makes (a command's answer, a reconnect, a backoff).
	// It stops only when the engine is stuck (the systemd watchdog).
	Heartbeat         func()
	HeartbeatInterval time.Duration
	// OnState, if set, is called from the control loop on every change of
	// the session state and of KeyFileUnsaved.
	OnState func(State)
}

// mode says how downstream reads the module's bytes. It is not the phase:
// it flips at the byte where the module's answer says so (the OK of an
// open, a close or a rekey), in the middle of a read.
type mode int

const (
	modePlain  mode = iota // between sessions: AT text in the clear, never for the application
	modeFramed             // in a session: only authentic frames carry plaintext
)

// Bridge is one running bridge between an application side and a modem.
// See the package documentation for who owns what.
type Bridge struct {
	cfg   Config
	log   *slog.Logger
	app   App
	stats counters.Set
	trace atomic.Bool

	// wmu serialises writes to the modem: the current link's connection,
	// the current keys' sealer and wbuf are used under it. A holder of
	// wmu may take mu, never the reverse.
	wmu  sync.Mutex
	wbuf []byte

	// mu guards the fields below; it is never held across I/O.
	mu     sync.Mutex
	phase  phase       // moved only by the control loop (setPhase)
	mode   mode        // flipped by downstream at a byte, or by the control loop
	link   *link       // the current modem connection
	keys   *keys       // the current key generation
	ctl    *command    // the bridge's own command in flight
	stream streamState // where the application's AT stream is
	in     input       // application input: held or flowing
	sched  schedule    // rekey schedule and history

	ctrl control    // the control loop's own state
	down downstream // downstream's own state
	out  appOut     // output queued for the application
	act  activity   // lock-free times and byte marks
}

// New returns a Bridge between app and modem. It does not start anything:
// call Run. From here on the Bridge owns modem (and every connection
// Config.Dial returns) and closes it when Run ends; app stays the caller's.
func New(cfg Config, app App, modem ModemConn) (*Bridge, error) {
	if cfg.Secrets == nil {
		return nil, errors.New("new bridge: no secrets")
	}
	if cfg.ProbeTimeout <= 0 {
		return nil, errors.New("new bridge: no probe timeout")
	}
	if cfg.Rand == nil {
		cfg.Rand = crand.Reader
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.EscapeGuard <= 0 {
		cfg.EscapeGuard = time.Second
	}
	if cfg.MaxFrame == 0 {
		cfg.MaxFrame = c2c.DefaultMaxPlaintext
	}
	if cfg.OpenTimeout <= 0 {
		cfg.OpenTimeout = usec.Timeout
	}
	if cfg.CommandTimeout <= 0 {
		cfg.CommandTimeout = usec.Timeout
	}
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = defaultHeartbeat
	}
	k, err := newKeys(cfg.Secrets, &cfg)
	if err != nil {
		return nil, fmt.Errorf("new bridge: %w", err)
	}
	b := &Bridge{cfg: cfg, log: cfg.Logger, app: app, keys: k,
		phase: phase{state: StateStarting, since: time.Now()}}
	if cfg.Previous != nil {
		prev := *cfg.Previous
		prev.TESecret = cfg.Secrets.TESecret
		b.ctrl.previous = &prev
	}
	b.cfg.Secrets, b.cfg.Previous = nil, nil // the caller's: not kept
	b.stream.guard, b.stream.dcd = cfg.EscapeGuard, cfg.DCD
	b.in.cond = sync.NewCond(&b.mu)
	b.out.init()
	b.trace.Store(cfg.Trace)
	b.sched.every = cfg.RekeyInterval
	b.act.rekeyBytes.Store(cfg.RekeyBytes)
	b.ctrl.events = newEvents()
	b.link = newLink(modem)
	return b, nil
}

// Run opens the secure session and relays until ctx is cancelled, then
// shuts down in order: it stops taking application input, flushes what it
// took, closes the session so the module speaks plain text again, and
// returns nil. It returns an error if the session cannot be opened or the
// modem connection fails for good. Run closes the modem connection it
// owns before it returns, never the application side.
func (b *Bridge) Run(ctx context.Context) error {
	b.ctrl.beat = time.NewTicker(b.cfg.HeartbeatInterval)
	defer b.ctrl.beat.Stop()
	defer b.wipe()
	go b.appWriter()
	defer b.stopAppWriter()
	go b.downstream(b.link)
	defer func() { b.currentLink().stop() }()

	if err := b.start(ctx, false); err != nil {
		b.setPhase(StateClosed)
		return err
	}
	upDone := make(chan struct{})
	go func() {
		defer close(upDone)
		b.upstream()
	}()

	err := b.serve(ctx)

	// Shutdown: stop taking input and wait for upstream to hand over what it took.
	b.mu.Lock()
	b.in.stopped = true
	b.in.cond.Broadcast()
	b.app.SetReadDeadline(time.Unix(1, 0))
	b.mu.Unlock()
	<-upDone
	if err == nil {
		b.shutdown()
	}
	b.setPhase(StateClosed)
	return err
}

// wipe zeroes every secret the Bridge holds; Run calls it last.
func (b *Bridge) wipe() {
	b.wmu.Lock()
	b.mu.Lock()
	b.keys.zero()
	b.down.retire(nil)
	b.mu.Unlock()
	b.wmu.Unlock()
	b.ctrl.dropPrevious()
}

// shutdown flushes held input and closes the session, within
// shutdownBudget whatever the module and the application do.
func (b *Bridge) shutdown() {
	open := b.inSession()
	b.setPhase(StateClosing)
	if !open {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), shutdownBudget)
	defer cancel()
	l := b.currentLink()
	stop := time.AfterFunc(shutdownBudget, func() { l.fail(errors.New("shutdown took too long")) })
	defer stop.Stop()
	if err := b.flushHeld(); err != nil {
		b.log.Warn("flush before close", "err", err)
	}
	if b.inDataMode() {
		if err := b.hangUp(ctx); err != nil {
			b.log.Warn("ending the call before closing the session", "err", err)
		}
	}
	if _, err := b.command(ctx, commandSpec{line: usec.CloseCommand(), name: "AT+USECC2C=2 (close)",
		framed: true, timeout: closeTimeout, toPlain: true}); err != nil {
		b.log.Warn("closing the secure session failed; the module may still expect frames", "err", err)
		return
	}
	b.log.Info("secure session closed", "device", b.cfg.Device)
}

// Stats returns a snapshot of the state and counters.
func (b *Bridge) Stats() Stats {
	b.mu.Lock()
	st := Stats{State: b.phase.state, Since: b.phase.since, ModemUp: b.phase.state != StateModemLost,
		Version: b.keys.secrets.Version(), Fingerprint: b.keys.secrets.Fingerprint(),
		LastRekey: b.sched.done, KeyFileUnsaved: b.sched.unsaved}
	if b.sched.every > 0 && !b.sched.tried.IsZero() {
		st.NextRekey = b.sched.tried.Add(b.sched.every)
	}
	b.mu.Unlock()
	st.Counters = b.stats.Snapshot()
	return st
}

// SetTrace turns the AT trace on or off while running.
func (b *Bridge) SetTrace(on bool) { b.trace.Store(on) }

// SetRekeySchedule changes session.rekey_interval and session.rekey_bytes
// while running (0 disables each).
func (b *Bridge) SetRekeySchedule(interval time.Duration, bytes int64) {
	b.mu.Lock()
	b.sched.every = interval
	b.mu.Unlock()
	b.act.rekeyBytes.Store(bytes)
	b.ctrl.events.signal(b.ctrl.events.reschedule)
}

// AppDetached tells the bridge that the application closed the virtual tty.
// If the stream was in data mode the bridge ends the call, as dropping DTR
// would on a real serial port.
func (b *Bridge) AppDetached() { b.ctrl.events.signal(b.ctrl.events.detached) }

// traceLine logs one plaintext AT line when the trace is on.
func (b *Bridge) traceLine(dir, line string) {
	if b.trace.Load() {
		b.log.Info("trace", "dir", dir, "line", at.Redact(line))
	}
}

// replyApp writes a line of the bridge's own to the application, formatted
// as a module response.
func (b *Bridge) replyApp(line string) {
	b.traceLine("bridge>app", line)
	b.queueApp([]byte("\r\n" + line + "\r\n"))
}

// inDataMode reports whether the application's stream is in a data-mode call.
func (b *Bridge) inDataMode() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stream.data
}

// setMode switches how downstream reads the module. Entering frames drops
// whatever the opener held from before; downstream is not inside the opener
// then, since it only feeds it in framed mode.
func (b *Bridge) setMode(m mode) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if m == modeFramed && b.mode != modeFramed {
		b.keys.opener.Reset()
	}
	b.mode = m
}
