package modemsim

import (
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	c2c "github.com/c2cbridge/c2cbridge/crypto"
)

// RekeyMode selects what AT+USECC2C=3 does. The public sources do not say,
// so the bridge handles both answer forms (docs/protocol.md, "Rekeying").
type RekeyMode string

// The two rekey behaviours.
const (
	// RekeySame answers OK in a frame and ends the session; the secrets
	// stay valid.
	RekeySame RekeyMode = "same"
	// RekeyNew answers +USECC2C: 3,0,"<key>"[,"<hmac_key>"] and OK in
	// frames and ends the session; the next open uses the new secrets.
	RekeyNew RekeyMode = "new"
)

// Identity of the simulated module, as ATI, AT+CGMI, AT+CGMM, AT+CGMR and
// AT+CGSN report it.
const (
	Manufacturer = "u-blox"
	Model        = "SARA-R510M8S"
	Revision     = "03.15"
	IMEI         = "004401083500000"
)

// Defaults of Config.
const (
	// DefaultEscapeGuard is the quiet time around "+++".
	DefaultEscapeGuard = time.Second
	// DefaultMaxFrame is the most plaintext in one frame from the module,
	// the bridge's default maximum.
	DefaultMaxFrame = c2c.DefaultMaxPlaintext
)

// Limits of the simulation.
const (
	maxLine   = 1024     // longest command line kept
	maxEvents = 1024     // events kept
	maxHeld   = 64 << 10 // bytes kept while a command is in progress
	highWater = 256 << 10
	readSize  = 32 << 10
	writeSize = 4 << 10
	maxTBIG   = 1 << 20
	maxTURC   = 10000
	maxTSLOW  = 10 * time.Minute
	pollEvery = 2 * time.Millisecond
)

// Errors Serve returns; callers tell them apart with errors.Is.
var (
	// ErrClosed is returned by Serve and ServePTY after Module.Close.
	ErrClosed = errors.New("modemsim: module closed")
	// ErrServing is returned by Serve while another Serve runs.
	ErrServing = errors.New("modemsim: module already serving a line")
)

// Config configures a Module. The zero value is an unpaired V2 module that
// cannot be paired, with echo off, no line emulation, rekey "same", and
// none of the V.250 options (LineEditing, SRegisters, RepeatLine,
// NumericResults).
type Config struct {
	// Secrets are the paired secrets (copied); nil means unpaired. A V2
	// pairing given here counts as confirmed.
	Secrets *c2c.Secrets
	// Version is the version a pairing (AT+USECC2C=0) produces: V2 when 0.
	Version c2c.Version
	// Pairable allows AT+USECC2C=0.
	Pairable bool
	// Echo is the echo setting after start, after every reboot and after
	// ATZ or AT&F (ATE1): a real module's power-on default is on.
	Echo bool
	// LineEditing edits command lines as V.250 does: the S5 character
	// (backspace) deletes the previous one, every other control character
	// (0x00-0x1F and DEL, except S3) is ignored, and so are spaces outside
	// quotes. Without it BS and DEL delete, LF is ignored, and other
	// control characters and spaces stay in the line (an error there).
	LineEditing bool
	// SRegisters enables ATS<n>=<v> (0-127; no value means 0) and
	// ATS<n>? (three digits) for S3, the line terminator (13), S4, the
	// response formatting character (10), and S5, the editing character
	// (8). Command lines end at S3 and results are framed with S3 and S4
	// (V.250 6.2); ATZ, AT&F and a reboot restore the defaults. Without it
	// any ATS command answers ERROR.
	SRegisters bool
	// RepeatLine enables "A/" (or "a/"): the last command line executed
	// runs again as soon as the '/' arrives, with no terminator.
	RepeatLine bool
	// NumericResults enables ATV0 (ATV too) and ATV1: with V0, result
	// codes are numbers followed by S3 (0 OK, 1 CONNECT, 2 RING, 3 NO
	// CARRIER, 4 ERROR), other responses are their text followed by S3
	// and S4. Without it ATV0 answers ERROR.
	NumericResults bool
	// Baud emulates a line of that bit rate (8N1, so Baud/10 bytes a
	// second) in both directions; 0 means as fast as the connection goes.
	Baud int
	// Rekey selects the behaviour of AT+USECC2C=3: RekeySame when empty.
	Rekey RekeyMode
	// EscapeGuard is the quiet time around "+++"; DefaultEscapeGuard when 0.
	EscapeGuard time.Duration
	// MaxFrame is the most plaintext the module puts in one frame;
	// DefaultMaxFrame when 0.
	MaxFrame int
	// RebootDelay is how long a rebooting module is deaf (input dropped)
	// before it sends RDY; 0 sends RDY at once.
	RebootDelay time.Duration
	// Rand supplies keys and IVs; crypto/rand.Reader when nil.
	Rand io.Reader
	// FaultSeed seeds the fault generator, for reproducible faults; a
	// random seed when 0.
	FaultSeed uint64
	// Network makes calls carry their data to a network served with
	// ServeNetwork instead of looping it back; while none is served, the
	// data of a call is dropped.
	Network bool
	// Logger receives debug logs; none when nil. Secrets are never logged.
	Logger *slog.Logger
}

// Event is one entry of the event log.
type Event struct {
	Time time.Time
	Text string // see the package documentation for the texts
}

// String returns the time and the text.
func (e Event) String() string { return e.Time.Format("15:04:05.000000") + " " + e.Text }

// Stats are the counters of a Module. Byte and frame counters only grow;
// the booleans describe the state now.
type Stats struct {
	BytesIn   uint64 // bytes read from the line, before input faults
	BytesOut  uint64 // bytes written to the line, after output faults
	FramesIn  uint64 // authentic frames received
	FramesOut uint64 // frames sealed (replays not included)

	// PlainBytesInSession counts bytes received in a session outside any
	// frame. They are dropped, never executed.
	PlainBytesInSession uint64
	MACFailures         uint64 // host frames failing authentication
	FCSFailures         uint64 // host frames failing the FCS
	OtherRejects        uint64 // host frames rejected otherwise (length, flag, padding, stall)
	LateFrames          uint64 // authentic frames that followed the end of their session in one read

	Commands      uint64 // command lines executed
	Opens         uint64
	Closes        uint64
	Rekeys        uint64
	Reboots       uint64
	Pairings      uint64
	Confirmations uint64
	// SecCommands counts every AT+USECC2C set command the module ran, by
	// op, whatever it answered (refused, busy and malformed ones
	// included), in plain text or in a session, alone or anywhere in a
	// chained line, repeated by A/ too.
	SecCommands SecCounts
	BusyAnswers uint64 // "SEC busy" answers given (SetBusy)
	Unplugs     uint64
	Connects    uint64 // ATD and ATO answered CONNECT
	Escapes     uint64 // +++ escapes
	CallDrops   uint64 // NO CARRIER by DropCall or a network that hung up

	NetworkIn      uint64 // bytes read from the network (Config.Network)
	NetworkOut     uint64 // bytes written to the network
	NetworkDropped uint64 // call data dropped: no network served, or no call up for the network's bytes

	BitsFlippedOut  uint64
	BytesDroppedOut uint64
	BitsFlippedIn   uint64
	BytesDroppedIn  uint64
	BytesInjected   uint64 // InjectPlain
	FramesReplayed  uint64 // ReplayFrame and ReplayRecorded
	BytesLost       uint64 // output produced while no line was served
	InputIgnored    uint64 // bytes received while rebooting or beyond a full hold buffer

	InSession bool
	DataMode  bool
	Connected bool // a Serve is running
	Rebooting bool
	Paired    bool
	Confirmed bool // the pairing may open sessions
	CallUp    bool // a call is up (in data mode, or left with +++)
	Network   bool // a ServeNetwork is running
}

// SecCounts counts AT+USECC2C set commands by op, the first argument.
type SecCounts struct {
	Pair    uint64 // op 0
	Open    uint64 // op 1
	Close   uint64 // op 2
	Rekey   uint64 // op 3
	Confirm uint64 // op 4
	Other   uint64 // any other first argument, or none
}

// Total returns the number of AT+USECC2C set commands counted.
func (c SecCounts) Total() uint64 {
	return c.Pair + c.Open + c.Close + c.Rekey + c.Confirm + c.Other
}

// Module is a simulated SARA-R5. Create it with New; all its methods are
// safe for concurrent use.
type Module struct {
	log         *slog.Logger
	rand        io.Reader
	guard       time.Duration
	maxFrame    int
	rebootDelay time.Duration
	defaultEcho bool
	lineEdit    bool // Config.LineEditing
	sregs       bool // Config.SRegisters
	repeat      bool // Config.RepeatLine
	numeric     bool // Config.NumericResults

	mu       sync.Mutex
	closed   bool
	secrets  *c2c.Secrets // nil while unpaired
	confirm  bool         // the pairing may open sessions
	tag      c2c.Secret   // confirmation tag of an unconfirmed V2 pairing
	version  c2c.Version
	pairable bool
	rekey    RekeyMode
	baud     int
	busyN    int
	faults   faults

	// AT state.
	echo     bool
	verbose  bool   // V1; false after ATV0
	s3       byte   // command line terminator
	s4       byte   // response formatting character
	s5       byte   // command line editing character
	lastLine string // the last command line executed, for A/
	cfun     int
	at       atState // the answer table's state (probe.go)
	line     []byte
	lineOver bool
	dataMode bool
	sms      smsEntry // the text of AT+CMGS/AT+CMGW after the "> " prompt
	smsRef   int      // the last message reference (+CMGS) or index (+CMGW)
	callUp   bool
	plus     int       // '+' held back as a possible escape
	lastData time.Time // arrival of the last data byte
	escTimer *mtimer
	busy     bool   // a command is in progress (AT+TSLOW)
	held     []byte // input waiting for it
	down     bool   // rebooting
	epoch    uint64 // changes at every reboot; stale timers check it

	sess      *session
	feeding   *session // the session whose Opener is being fed
	stage     []byte   // output of the current step, not yet sealed
	outq      []byte   // bytes for the line, in order
	lastFrame []byte   // the last frame sealed, for ReplayFrame
	recArmed  bool     // RecordNextFrame waits for a frame
	recMatch  []byte   // the plaintext it waits for
	recorded  []byte   // the frame it recorded, for ReplayRecorded
	conn      *conn

	netMode bool     // Config.Network
	network *netConn // the ServeNetwork running, if any
	netq    []byte   // call data for the network, in order

	stats  Stats
	events []Event

	timers  map[*mtimer]struct{}
	timerWG sync.WaitGroup
}

// conn is one Serve call.
type conn struct {
	wake   chan struct{} // output queued; buffered
	space  chan struct{} // output taken; buffered
	cancel context.CancelCauseFunc
	done   chan struct{} // closed when Serve has cleaned up
}

// mtimer is a timer the Module owns; its callback runs with m.mu held.
type mtimer struct{ t *time.Timer }

// New returns a Module configured by cfg. It starts no goroutine: Serve
// and ServePTY do.
func New(cfg Config) (*Module, error) {
	m := &Module{
		log:         cfg.Logger,
		rand:        cfg.Rand,
		guard:       cfg.EscapeGuard,
		maxFrame:    cfg.MaxFrame,
		rebootDelay: cfg.RebootDelay,
		defaultEcho: cfg.Echo,
		lineEdit:    cfg.LineEditing,
		sregs:       cfg.SRegisters,
		repeat:      cfg.RepeatLine,
		numeric:     cfg.NumericResults,
		version:     cfg.Version,
		pairable:    cfg.Pairable,
		rekey:       cfg.Rekey,
		baud:        cfg.Baud,
		cfun:        1,
		netMode:     cfg.Network,
		timers:      make(map[*mtimer]struct{}),
		at:          newATState(),
	}
	m.resetProfile()
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	if m.rand == nil {
		m.rand = crand.Reader
	}
	if m.guard <= 0 {
		m.guard = DefaultEscapeGuard
	}
	if m.maxFrame == 0 {
		m.maxFrame = DefaultMaxFrame
	}
	if m.version == 0 {
		m.version = c2c.V2
	}
	if m.rekey == "" {
		m.rekey = RekeySame
	}
	switch {
	case m.version != c2c.V1 && m.version != c2c.V2:
		return nil, fmt.Errorf("modemsim: new: unknown version %d", int(m.version))
	case m.rekey != RekeySame && m.rekey != RekeyNew:
		return nil, fmt.Errorf("modemsim: new: unknown rekey mode %q", m.rekey)
	case m.baud < 0:
		return nil, fmt.Errorf("modemsim: new: negative baud rate %d", m.baud)
	case m.rebootDelay < 0:
		return nil, fmt.Errorf("modemsim: new: negative reboot delay")
	}
	// Check MaxFrame the way the sealer will.
	probe := c2c.Secrets{HMACKey: c2c.Secret{1}}
	if _, err := c2c.NewSealer(&probe, m.rand, m.maxFrame); err != nil {
		return nil, fmt.Errorf("modemsim: new: MaxFrame: %w", err)
	}
	if cfg.Secrets != nil {
		s := *cfg.Secrets
		m.secrets = &s
		m.confirm = true
	}
	seed := cfg.FaultSeed
	if seed == 0 {
		seed = rand.Uint64()
	}
	m.faults.rng = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	m.faults.reset()
	return m, nil
}

// Close ends a running Serve (which returns ErrClosed) and waits for it,
// stops every timer and wipes the session keys. It does not stop a
// PTYServer (close that first). Close is idempotent.
func (m *Module) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	c := m.conn
	m.stopTimers()
	m.endSession()
	if m.network != nil {
		m.network.cancel(ErrClosed)
	}
	m.mu.Unlock()
	if c != nil {
		c.cancel(ErrClosed)
		<-c.done
	}
	m.timerWG.Wait()
	return nil
}

// Stats returns the counters now.
func (m *Module) Stats() Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.statsLocked()
}

func (m *Module) statsLocked() Stats {
	s := m.stats
	s.InSession = m.sess != nil
	s.DataMode = m.dataMode
	s.Connected = m.conn != nil
	s.Rebooting = m.down
	s.Paired = m.secrets != nil
	s.Confirmed = m.secrets != nil && m.confirm
	s.CallUp = m.callUp
	s.Network = m.network != nil
	return s
}

// Events returns a copy of the event log, oldest first.
func (m *Module) Events() []Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Event(nil), m.events...)
}

// HasEvent reports whether the event log holds an event with this text.
func (m *Module) HasEvent(text string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range m.events {
		if e.Text == text {
			return true
		}
	}
	return false
}

// WaitFor returns nil as soon as cond holds for the Stats, or the
// context's error when ctx ends first. It polls every couple of
// milliseconds; cond runs without any lock held.
func (m *Module) WaitFor(ctx context.Context, cond func(Stats) bool) error {
	t := time.NewTicker(pollEvery)
	defer t.Stop()
	for {
		if cond(m.Stats()) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("modemsim: wait: %w (stats %+v)", context.Cause(ctx), m.Stats())
		case <-t.C:
		}
	}
}

// Secrets returns a copy of the current secrets, nil while unpaired. After
// a rekey "new" they are the new ones.
func (m *Module) Secrets() *c2c.Secrets {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.secrets == nil {
		return nil
	}
	s := *m.secrets
	return &s
}

// SetPairable allows or refuses AT+USECC2C=0 from now on.
func (m *Module) SetPairable(ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pairable = ok
}

// SetRekeyMode changes what the next AT+USECC2C=3 does. An unknown mode is
// ignored.
func (m *Module) SetRekeyMode(r RekeyMode) {
	if r != RekeySame && r != RekeyNew {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rekey = r
}

// SetBusy makes the next n security commands (AT+USECC2C, any op) answer
// "+CME ERROR: SEC busy" (in the AT+CMEE form in force), as a module does
// just after power-on. n <= 0 clears it.
func (m *Module) SetBusy(n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.busyN = max(n, 0)
}

// SetBaud changes the line emulation: baud bits a second (8N1) in both
// directions, 0 for none. It applies to the bytes not yet paced, and to
// the stall timeout of the open session's frame decoder.
func (m *Module) SetBaud(baud int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.baud = max(baud, 0)
	if m.sess != nil {
		m.sess.opener.SetLineRate(m.baud, 0)
	}
}

// Defaults of the S-registers (V.250 6.2).
const (
	defaultS3 = '\r'
	defaultS4 = '\n'
	defaultS5 = '\b'
)

// resetProfile restores the settings ATZ and AT&F restore: echo, verbose
// results, S3, S4 and S5, ATX, AT&C and AT&D. m.mu held (or m unshared).
func (m *Module) resetProfile() {
	m.echo = m.defaultEcho
	m.verbose = true
	m.s3, m.s4, m.s5 = defaultS3, defaultS4, defaultS5
	m.at.resetProfile()
}

// event logs an event. m.mu held.
func (m *Module) event(text string) {
	if len(m.events) >= maxEvents {
		n := copy(m.events, m.events[maxEvents/4:])
		clear(m.events[n:])
		m.events = m.events[:n]
	}
	m.events = append(m.events, Event{Time: time.Now(), Text: text})
	m.log.Debug("modemsim event", "event", text)
}

// after runs fn with m.mu held after d, unless the module is closed or the
// timer stopped first. m.mu held.
func (m *Module) after(d time.Duration, fn func()) *mtimer {
	mt := &mtimer{}
	m.timers[mt] = struct{}{}
	m.timerWG.Add(1)
	mt.t = time.AfterFunc(d, func() {
		defer m.timerWG.Done()
		m.mu.Lock()
		defer m.mu.Unlock()
		if _, live := m.timers[mt]; !live || m.closed {
			return
		}
		delete(m.timers, mt)
		fn()
		m.flush()
	})
	return mt
}

// stopTimer stops mt if it has not fired. m.mu held.
func (m *Module) stopTimer(mt *mtimer) {
	if mt == nil {
		return
	}
	if _, live := m.timers[mt]; !live {
		return
	}
	delete(m.timers, mt)
	if mt.t.Stop() {
		m.timerWG.Done()
	}
}

// stopTimers stops every timer. m.mu held.
func (m *Module) stopTimers() {
	for mt := range m.timers {
		m.stopTimer(mt)
	}
	m.escTimer = nil
}
