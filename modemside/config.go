package modemside

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Values of Config.Parity.
const (
	ParityNone = "none"
	ParityEven = "even"
	ParityOdd  = "odd"
)

// Values of Config.FlowControl.
const (
	FlowRTSCTS = "rtscts"
	FlowNone   = "none"
)

// Values of Config.Pace.
const (
	// PaceAuto paces a real UART and leaves a pseudo-terminal unpaced.
	PaceAuto = "auto"
	// PaceOn always paces upstream frames to the bit rate.
	PaceOn = "on"
	// PaceOff never paces them.
	PaceOff = "off"
)

// Defaults of the line settings: what Default returns, what the
// configuration file falls back to for a key it leaves out, and what
// WithDefaults (and so Open) puts in a zero field.
const (
	DefaultBaud        = 115200
	DefaultDataBits    = 8
	DefaultParity      = ParityNone
	DefaultStopBits    = 1
	DefaultFlowControl = FlowRTSCTS
	DefaultPace        = PaceAuto
	DefaultEscapeGuard = time.Second
)

// The bounds of modem.escape_guard: S12 counts fiftieths of a second from
// 1 to 255 (V.250).
const (
	minEscapeGuard = 20 * time.Millisecond
	maxEscapeGuard = 5100 * time.Millisecond
)

// The accepted values of the settings that take a word, in the order the
// error messages list them.
var (
	parities     = []string{ParityNone, ParityEven, ParityOdd}
	flowControls = []string{FlowRTSCTS, FlowNone}
	paces        = []string{PaceAuto, PaceOn, PaceOff}
)

// Config is the modem line: the UART's device and its line settings. It is
// the one definition of the configuration file's `modem:` section (package
// config embeds it, hence the yaml tags): its keys, their defaults
// (Default) and their checks (Validate) live here and nowhere else.
type Config struct {
	// Device is the UART's path, best a stable /dev/serial/by-id/... name
	// (modem.device, required).
	Device string `yaml:"device"`
	// Baud is the bit rate (modem.baud).
	Baud int `yaml:"baud"`
	// DataBits is 5, 6, 7 or 8 (modem.data_bits).
	DataBits int `yaml:"data_bits"`
	// Parity is ParityNone, ParityEven or ParityOdd (modem.parity).
	Parity string `yaml:"parity"`
	// StopBits is 1 or 2 (modem.stop_bits).
	StopBits int `yaml:"stop_bits"`
	// FlowControl is FlowRTSCTS or FlowNone (modem.flow_control).
	FlowControl string `yaml:"flow_control"`
	// Pace says whether the bridge paces upstream frames to the line's bit
	// rate, coalescing small writes while the line is busy: PaceAuto,
	// PaceOn or PaceOff (modem.pace). Open does not use it; PaceBaud
	// turns it into a rate.
	Pace string `yaml:"pace"`
	// EscapeGuard is the module's escape guard time, its S12 (1 s on a
	// SARA-R5 as it leaves the factory): the quiet time around "+++"
	// (modem.escape_guard). The bridge uses it for its own escapes and to
	// see the application's; the bridge refuses ATS12= so it stays true.
	EscapeGuard time.Duration `yaml:"escape_guard"`
	// DCD says the UART's DCD line tells the end of a call (the module
	// set with AT&C1): a NO CARRIER in a call then counts only while DCD
	// is off (modem.dcd). Without it the bridge tells the module's NO
	// CARRIER from call data by PPP's framing.
	DCD bool `yaml:"dcd"`
}

// Default returns the default line settings, with Device empty.
func Default() Config {
	return Config{Baud: DefaultBaud, DataBits: DefaultDataBits, Parity: DefaultParity,
		StopBits: DefaultStopBits, FlowControl: DefaultFlowControl, Pace: DefaultPace,
		EscapeGuard: DefaultEscapeGuard}
}

// WithDefaults returns a copy of c with every zero field but Device set to
// its default, for callers that build a Config in Go and leave fields out.
// It leaves invalid values alone: Validate reports them.
func (c Config) WithDefaults() Config {
	d := Default()
	if c.Baud == 0 {
		c.Baud = d.Baud
	}
	if c.DataBits == 0 {
		c.DataBits = d.DataBits
	}
	if c.Parity == "" {
		c.Parity = d.Parity
	}
	if c.StopBits == 0 {
		c.StopBits = d.StopBits
	}
	if c.FlowControl == "" {
		c.FlowControl = d.FlowControl
	}
	if c.Pace == "" {
		c.Pace = d.Pace
	}
	if c.EscapeGuard == 0 {
		c.EscapeGuard = d.EscapeGuard
	}
	return c
}

// Validate checks every setting as it stands (a zero field is not a
// default here: call WithDefaults first for that) and reports the first bad
// one, naming its configuration key, for example
// `modem.parity: "mark" is not one of none, even, odd`.
func (c Config) Validate() error {
	switch {
	case c.Device == "":
		return bad("modem.device", "required: the path of the modem's UART, e.g. /dev/serial/by-id/usb-u-blox_...")
	case c.Baud <= 0:
		return bad("modem.baud", "%d is not a positive bit rate", c.Baud)
	case c.DataBits < 5 || c.DataBits > 8:
		return bad("modem.data_bits", "%d is not one of 5, 6, 7, 8", c.DataBits)
	case !slices.Contains(parities, c.Parity):
		return bad("modem.parity", "%q is not one of %s", c.Parity, strings.Join(parities, ", "))
	case c.StopBits != 1 && c.StopBits != 2:
		return bad("modem.stop_bits", "%d is not 1 or 2", c.StopBits)
	case !slices.Contains(flowControls, c.FlowControl):
		return bad("modem.flow_control", "%q is not one of %s", c.FlowControl, strings.Join(flowControls, ", "))
	case !slices.Contains(paces, c.Pace):
		return bad("modem.pace", "%q is not one of %s", c.Pace, strings.Join(paces, ", "))
	case c.EscapeGuard < minEscapeGuard || c.EscapeGuard > maxEscapeGuard:
		return bad("modem.escape_guard", "%v is outside %v..%v (the module's S12 runs from 0.02 s to 5.1 s)", c.EscapeGuard, minEscapeGuard, maxEscapeGuard)
	}
	return nil
}

// PaceBaud returns the bit rate the bridge paces upstream frames to under
// c.Pace, 0 for none: PaceOn paces to c.Baud, PaceOff does not pace, and
// PaceAuto paces a real UART but not a pseudo-terminal (isPTY: a simulated
// module, which has no line rate). Zero fields count as their defaults.
func (c Config) PaceBaud(isPTY bool) int {
	c = c.WithDefaults()
	switch c.Pace {
	case PaceOn:
		return c.Baud
	case PaceOff:
		return 0
	}
	if isPTY {
		return 0
	}
	return c.Baud
}

// bad formats a Validate error: the key, then what is wrong with it.
func bad(key, format string, args ...any) error {
	return fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...))
}
