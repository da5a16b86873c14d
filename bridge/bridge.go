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
)

// Sizes and timings of the engine.
const (
	// readSize is how much one read of either side asks for.
	readSize = 64 << 10
	// maxHeld bounds the application input held while the session is not
	// ready (a bridge command in flight, a reopen): when it is full the
	// application side is no longer read, so nothing is dropped.
	maxHeld = 256 << 10
	// replayWindow is how many recent module frame IVs are remembered.
	replayWindow = 4096
	// closeTimeout bounds the wait for the answer to AT+USECC2C=2 at shutdown.
	closeTimeout = 5 * time.Second
)

// Errors Run returns; callers tell them apart with errors.Is.
var (
	// ErrNoAnswer: the module answered neither a plain nor an encrypted AT.
	ErrNoAnswer = errors.New("no answer from the module")
	// ErrRefused: the module refused to open a session with our te_secret.
	ErrRefused = errors.New("the module refused to open a secure session")
	// ErrModemLost: the UART failed (read or write error, EOF).
	ErrModemLost = errors.New("modem connection lost")
	// ErrClosed: the bridge was closed.
	ErrClosed = errors.New("bridge closed")
)

// ModemConn is the encrypted side: the module's UART. Read must return
// promptly with a timeout error (os.ErrDeadlineExceeded) once a read
// deadline passes, and Close must unblock a pending Read and Write.
type ModemConn interface {
	io.ReadWriteCloser
	SetReadDeadline(t time.Time) error
}

// App is the plaintext side: the virtual tty an application opens. Read
// blocks until the application writes (also while no application is
// attached); a read deadline must unblock it with a timeout error. Write
// delivers bytes to the application.
type App interface {
	io.ReadWriter
	SetReadDeadline(t time.Time) error
}

// Config holds what a Bridge needs besides its two sides.
type Config struct {
	// Secrets are the pairing secrets; the Bridge keeps its own copy.
	Secrets *c2c.Secrets
	// Previous, if set, is the generation before Secrets, kept in the key
	// file until an authentic answer confirms Secrets; the start-up tries
	// it if Secrets get no answer, then saves the one that works.
	Previous *c2c.Secrets
	// Device names the UART in error messages.
	Device string
	// Baud is the line's bit rate (for telling a stalled frame from a slow one).
	Baud int
	// PaceBaud, if positive, paces upstream frames to this bit rate (10 bits
	// a byte) and gathers application bytes while the line is busy; 0
	// writes at once (a pseudo-terminal has no line rate).
	PaceBaud int
	// ProbeTimeout bounds the plain and encrypted AT probes at start-up.
	ProbeTimeout time.Duration
	// OpenTimeout bounds the answer to AT+USECC2C=1.
	OpenTimeout time.Duration
	// CommandTimeout bounds the answer to other security commands.
	CommandTimeout time.Duration
	// MaxFrame is the largest plaintext accepted in one module frame.
	MaxFrame int
	// EscapeGuard is the quiet time around the "+++" escape the bridge
	// sends to leave data mode (the module's S12); 1 s when 0.
	EscapeGuard time.Duration
	// Dial, if set, reopens the modem after the connection failed (an
	// unplugged USB adapter); the bridge retries it with backoff. Without
	// it a failed connection ends Run with ErrModemLost.
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
	// Trace logs the plaintext AT lines each way (never data-mode bytes),
	// with the arguments of secret-bearing commands redacted. SetTrace
	// changes it while running.
	Trace bool
	// Heartbeat, if set, is called from the control loop on every tick; it
	// proves the engine's own loop runs (the systemd watchdog).
	Heartbeat func()
	// OnState, if set, is called on every session state change.
	OnState func(State)
}

// State is the session state reported to OnState and in Status.
type State string

// Session states.
const (
	StateStarting  State = "starting"
	StateOpening   State = "opening"
	StateOpen      State = "open"
	StateRekeying  State = "rekeying"
	StateClosing   State = "closing"
	StateClosed    State = "closed"
	StateModemLost State = "module lost"
)

// mode says how downstream reads the module's bytes.
type mode int

const (
	modePlain  mode = iota // between sessions: AT text in the clear, never for the application
	modeFramed             // in a session: only authentic frames carry plaintext
)

// Bridge is one running bridge between an application side and a modem.
type Bridge struct {
	cfg     Config
	log     *slog.Logger
	secrets c2c.Secrets
	app     App
	modem   ModemConn

	// wmu serialises writes to the modem and guards the sealer and wbuf.
	// Holders never take mu while blocked in I/O.
	wmu    sync.Mutex
	sealer *c2c.Sealer
	wbuf   []byte

	// mu guards the fields below; it is never held across I/O.
	mu     sync.Mutex
	cond   *sync.Cond
	mode   mode
	opener *c2c.Opener // used by downstream only; replaced under mu
	// nextOpener replaces opener (for new secrets) at downstream's next step.
	nextOpener  *c2c.Opener
	up          bool        // a session is open and application input may flow
	hold        bool        // a bridge command is in flight: hold application input
	held        []byte      // application bytes taken but not yet sent
	ctl         *command    // the bridge's own command in flight
	stream      streamState // where the application's AT stream is
	state       State
	since       time.Time
	upStopped   bool // upstream must stop taking input
	downStopped bool // downstream must stop reading
	downErr     error
	replay      replaySet
	// strayLines splits bytes outside frames into lines (downstream only).
	strayLines at.LineSplitter

	stats counters.Set
	done  chan struct{} // closed when downstream exits; replaced per connection (mu)

	// Signals to the control loop; buffered, sent without blocking.
	suspect  chan struct{} // plain text arrived in a session: the module may have rebooted
	detached chan struct{} // the application went away

	trace      atomic.Bool
	traceDown  at.LineSplitter // downstream only
	lastRekey  time.Time       // mu
	rekeyEvery time.Duration   // mu; SetRekeySchedule
	rekeyBytes int64           // mu
	lineFree   atomic.Int64    // unix nanos when the line has sent all written bytes (pacing)
	lastRx     atomic.Int64    // unix nanos of the last authentic frame
	lastTx     atomic.Int64    // unix nanos of the last application byte sent
	rekeyBase  atomic.Uint64   // application bytes both ways at the last rekey
	nextOpen   time.Time       // opens are rate-limited (control loop only)
	openFails  int
}

// New returns a Bridge between app and modem. It does not start anything:
// call Run.
func New(cfg Config, app App, modem ModemConn) (*Bridge, error) {
	if cfg.Secrets == nil {
		return nil, errors.New("new bridge: no secrets")
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
	for _, d := range []*time.Duration{&cfg.ProbeTimeout, &cfg.OpenTimeout, &cfg.CommandTimeout} {
		if *d <= 0 {
			*d = 150 * time.Second
		}
	}
	b := &Bridge{cfg: cfg, log: cfg.Logger, secrets: *cfg.Secrets, app: app, modem: modem,
		done: make(chan struct{}), state: StateStarting, since: time.Now(),
		suspect: make(chan struct{}, 1), detached: make(chan struct{}, 1)}
	b.cond = sync.NewCond(&b.mu)
	b.trace.Store(cfg.Trace)
	b.rekeyEvery, b.rekeyBytes = cfg.RekeyInterval, cfg.RekeyBytes
	b.replay.init(replayWindow)
	if err := b.newCodec(); err != nil {
		return nil, fmt.Errorf("new bridge: %w", err)
	}
	return b, nil
}

// newCodec makes a sealer and an opener for the current secrets.
func (b *Bridge) newCodec() error {
	s, err := c2c.NewSealer(&b.secrets, b.cfg.Rand, c2c.MaxHostPlaintext)
	if err != nil {
		return err
	}
	o, err := c2c.NewOpener(&b.secrets, b.cfg.MaxFrame)
	if err != nil {
		return err
	}
	o.SetLineRate(b.cfg.Baud, 0)
	b.wmu.Lock()
	if b.sealer != nil {
		b.sealer.Zero()
	}
	b.sealer = s
	b.wmu.Unlock()
	b.mu.Lock()
	if b.opener == nil {
		b.opener = o
	} else {
		// Downstream may be inside the old opener: it swaps and wipes it.
		b.nextOpener = o
	}
	b.replay.reset()
	b.mu.Unlock()
	return nil
}

// Run opens the secure session and relays until ctx is cancelled, then
// shuts down in order: it stops taking application input, flushes what it
// took, closes the session so the module speaks plain text again, and
// returns nil. It returns an error if the session cannot be opened or the
// modem connection fails. Run closes neither side.
func (b *Bridge) Run(ctx context.Context) error {
	defer b.secrets.Zero()
	go b.downstream(b.modem, b.done)
	defer b.stopDownstream()

	if err := b.start(ctx, false); err != nil {
		b.setState(StateClosed)
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
	b.upStopped = true
	b.cond.Broadcast()
	b.app.SetReadDeadline(time.Unix(1, 0))
	b.mu.Unlock()
	<-upDone
	if err == nil {
		b.shutdown()
	}
	b.setState(StateClosed)
	return err
}

// shutdown flushes held input and closes the session.
func (b *Bridge) shutdown() {
	b.setState(StateClosing)
	b.mu.Lock()
	up := b.up
	b.mu.Unlock()
	if !up {
		return
	}
	if err := b.flushHeld(); err != nil {
		b.log.Warn("flush before close", "err", err)
	}
	b.mu.Lock()
	data := b.stream.data
	b.mu.Unlock()
	if data {
		if err := b.hangUp(context.Background()); err != nil {
			b.log.Warn("ending the call before closing the session", "err", err)
		}
	}
	if _, err := b.command(context.Background(), commandSpec{line: "AT+USECC2C=2", framed: true, timeout: closeTimeout, toPlain: true}); err != nil {
		b.log.Warn("closing the secure session failed; the module may still expect frames", "err", err)
		return
	}
	b.log.Info("secure session closed", "device", b.cfg.Device)
}

// stopDownstream ends the downstream goroutine: it makes its read time out
// and waits for it.
func (b *Bridge) stopDownstream() {
	b.mu.Lock()
	b.downStopped = true
	b.modem.SetReadDeadline(time.Unix(1, 0))
	done := b.done
	b.mu.Unlock()
	<-done
}

func (b *Bridge) setState(s State) {
	b.mu.Lock()
	changed := b.state != s
	b.state, b.since = s, time.Now()
	b.mu.Unlock()
	if changed && b.cfg.OnState != nil {
		b.cfg.OnState(s)
	}
}

// writeModem writes p to the modem; the caller holds wmu.
func (b *Bridge) writeModem(p []byte) error {
	if b.cfg.PaceBaud > 0 {
		now := time.Now().UnixNano()
		busy := int64(len(p)) * int64(10*time.Second) / int64(b.cfg.PaceBaud)
		b.lineFree.Store(max(b.lineFree.Load(), now) + busy)
	}
	if _, err := b.modem.Write(p); err != nil {
		return fmt.Errorf("%w: write: %v", ErrModemLost, err)
	}
	b.stats.Add(counters.LineBytesUp, uint64(len(p)))
	return nil
}

// sealAndWrite seals p into frames and writes them in one write; the caller
// holds wmu.
func (b *Bridge) sealAndWrite(p []byte) error {
	var err error
	b.wbuf, err = b.sealer.Seal(b.wbuf[:0], p)
	if err != nil {
		return err
	}
	b.stats.Add(counters.FramesUp, uint64((len(p)+c2c.MaxHostPlaintext-1)/c2c.MaxHostPlaintext))
	return b.writeModem(b.wbuf)
}

// flushHeld sends the application input held while the session was busy,
// then lets upstream send directly again.
func (b *Bridge) flushHeld() error {
	b.wmu.Lock()
	defer b.wmu.Unlock()
	b.mu.Lock()
	held := b.held
	b.held = nil
	b.mu.Unlock()
	var err error
	if len(held) > 0 {
		err = b.sealAndWrite(held)
	}
	b.mu.Lock()
	if err != nil {
		b.held = append(held, b.held...)
		b.mu.Unlock()
		return err
	}
	b.stats.Add(counters.AppBytesUp, uint64(len(held)))
	b.hold = false
	b.cond.Broadcast()
	b.mu.Unlock()
	return err
}

// setMode switches how downstream reads the module. Entering frames drops
// whatever the opener held from before; downstream is not inside the opener
// then, since it only feeds it in framed mode.
func (b *Bridge) setMode(m mode) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if m == modeFramed && b.mode != modeFramed {
		b.opener.Reset()
	}
	b.mode = m
}

// SetTrace turns the AT trace on or off while running.
func (b *Bridge) SetTrace(on bool) { b.trace.Store(on) }

// SetRekeySchedule changes session.rekey_interval and session.rekey_bytes
// while running (0 disables each).
func (b *Bridge) SetRekeySchedule(interval time.Duration, bytes int64) {
	b.mu.Lock()
	b.rekeyEvery, b.rekeyBytes = interval, bytes
	b.mu.Unlock()
}

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
	b.app.Write([]byte("\r\n" + line + "\r\n"))
}

// Stats returns a snapshot of the state and counters.
func (b *Bridge) Stats() Stats {
	b.mu.Lock()
	st := Stats{State: b.state, Since: b.since, Version: b.secrets.Version(), Fingerprint: b.secrets.Fingerprint(),
		ModemUp: b.state != StateModemLost}
	if b.stats.Load(counters.Rekeys) > 0 {
		st.LastRekey = b.lastRekey
	}
	if b.rekeyEvery > 0 && !b.lastRekey.IsZero() {
		st.NextRekey = b.lastRekey.Add(b.rekeyEvery)
	}
	b.mu.Unlock()
	st.Counters = b.stats.Snapshot()
	return st
}
