package modemside

import (
	"errors"
	"fmt"
)

// Defaults applied by Config.WithDefaults (and so by Open) to zero fields.
const (
	DefaultBaud        = 115200
	DefaultDataBits    = 8
	DefaultParity      = ParityNone
	DefaultStopBits    = 1
	DefaultFlowControl = FlowRTSCTS
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

// Config is the UART configuration (mirrors the YAML `modem:` section).
// Zero values stand for the defaults above; error messages name the keys
// modem.device, modem.baud, modem.data_bits, modem.parity, modem.stop_bits
// and modem.flow_control.
type Config struct {
	Device      string // path, e.g. /dev/serial/by-id/... or /dev/ttyUSB0
	Baud        int    // default 115200 when 0
	DataBits    int    // 5..8, default 8 when 0
	Parity      string // "none" | "even" | "odd"; "" means none
	StopBits    int    // 1 | 2; 0 means 1
	FlowControl string // "rtscts" | "none"; "" means rtscts
}

// WithDefaults returns a copy of c with every zero field set to its default.
// It leaves invalid values alone: Validate reports them.
func (c Config) WithDefaults() Config {
	if c.Baud == 0 {
		c.Baud = DefaultBaud
	}
	if c.DataBits == 0 {
		c.DataBits = DefaultDataBits
	}
	if c.Parity == "" {
		c.Parity = DefaultParity
	}
	if c.StopBits == 0 {
		c.StopBits = DefaultStopBits
	}
	if c.FlowControl == "" {
		c.FlowControl = DefaultFlowControl
	}
	return c
}

// Validate reports a clear error for bad values (naming the config key, e.g.
// `modem.parity: "bogus" is not one of none, even, odd`). Zero values are
// valid: they stand for the defaults. When several values are bad, the
// error lists all of them, one per line.
func (c Config) Validate() error {
	var errs []error
	if c.Device == "" {
		errs = append(errs, errors.New("modem.device: not set: give the modem's serial port, preferably its stable /dev/serial/by-id/... name"))
	}
	if c.Baud < 0 {
		errs = append(errs, fmt.Errorf("modem.baud: %d is not a bit rate: give a positive number such as 115200 (or leave it out for 115200)", c.Baud))
	}
	if c.DataBits != 0 && (c.DataBits < 5 || c.DataBits > 8) {
		errs = append(errs, fmt.Errorf("modem.data_bits: %d is not one of 5, 6, 7, 8", c.DataBits))
	}
	switch c.Parity {
	case "", ParityNone, ParityEven, ParityOdd:
	default:
		errs = append(errs, fmt.Errorf("modem.parity: %q is not one of none, even, odd", c.Parity))
	}
	switch c.StopBits {
	case 0, 1, 2:
	default:
		errs = append(errs, fmt.Errorf("modem.stop_bits: %d is not one of 1, 2", c.StopBits))
	}
	switch c.FlowControl {
	case "", FlowRTSCTS, FlowNone:
	default:
		errs = append(errs, fmt.Errorf("modem.flow_control: %q is not one of rtscts, none", c.FlowControl))
	}
	return errors.Join(errs...)
}
