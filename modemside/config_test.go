package modemside

import (
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	// with returns the defaults on /dev/ttyUSB0, changed by set.
	with := func(set func(c *Config)) Config {
		c := Default()
		c.Device = "/dev/ttyUSB0"
		set(&c)
		return c
	}
	tests := []struct {
		name string
		cfg  Config
		want []string // substrings of the error; none means valid
	}{
		{"defaults", with(func(*Config) {}), nil},
		{"everything set", Config{Device: "/dev/ttyS1", Baud: 921600, DataBits: 7, Parity: "even", StopBits: 2, FlowControl: "none", Pace: "on", EscapeGuard: 50 * time.Millisecond, DCD: true}, nil},
		{"odd parity", with(func(c *Config) { c.Parity = "odd" }), nil},
		{"odd bit rate", with(func(c *Config) { c.Baud = 250000 }), nil},
		{"data bits 5", with(func(c *Config) { c.DataBits = 5 }), nil},
		{"pace off", with(func(c *Config) { c.Pace = "off" }), nil},
		{"zero fields after WithDefaults", Config{Device: "/dev/ttyS1"}.WithDefaults(), nil},
		{"no device", with(func(c *Config) { c.Device = "" }), []string{"modem.device: required"}},
		{"negative baud", with(func(c *Config) { c.Baud = -9600 }), []string{"modem.baud: -9600 is not a positive bit rate"}},
		{"zero baud", with(func(c *Config) { c.Baud = 0 }), []string{"modem.baud: 0 is not a positive bit rate"}},
		{"data bits 9", with(func(c *Config) { c.DataBits = 9 }), []string{"modem.data_bits: 9 is not one of 5, 6, 7, 8"}},
		{"data bits 4", with(func(c *Config) { c.DataBits = 4 }), []string{"modem.data_bits: 4 is not one of 5, 6, 7, 8"}},
		{"bogus parity", with(func(c *Config) { c.Parity = "bogus" }), []string{`modem.parity: "bogus" is not one of none, even, odd`}},
		{"parity is case sensitive", with(func(c *Config) { c.Parity = "Even" }), []string{`modem.parity: "Even" is not one of none, even, odd`}},
		{"mark parity", with(func(c *Config) { c.Parity = "mark" }), []string{`modem.parity: "mark"`}},
		{"empty parity", with(func(c *Config) { c.Parity = "" }), []string{`modem.parity: "" is not one of`}},
		{"stop bits 3", with(func(c *Config) { c.StopBits = 3 }), []string{"modem.stop_bits: 3 is not 1 or 2"}},
		{"stop bits 0", with(func(c *Config) { c.StopBits = 0 }), []string{"modem.stop_bits: 0 is not 1 or 2"}},
		{"bogus flow control", with(func(c *Config) { c.FlowControl = "xonxoff" }), []string{`modem.flow_control: "xonxoff" is not one of rtscts, none`}},
		{"bogus pace", with(func(c *Config) { c.Pace = "fast" }), []string{`modem.pace: "fast" is not one of auto, on, off`}},
		{"escape guard too short", with(func(c *Config) { c.EscapeGuard = time.Millisecond }), []string{"modem.escape_guard: 1ms is outside"}},
		{"escape guard too long", with(func(c *Config) { c.EscapeGuard = 6 * time.Second }), []string{"modem.escape_guard: 6s is outside"}},
		{"all wrong at once: the first is named", Config{Baud: -1, DataBits: 1, Parity: "x", StopBits: 9, FlowControl: "y", Pace: "z", EscapeGuard: 1},
			[]string{"modem.device"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want an error containing %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %q, want it to contain %q", err, w)
				}
			}
			if strings.Count(err.Error(), "modem.") != 1 || strings.Contains(err.Error(), "\n") {
				t.Errorf("Validate() = %q, want one line naming one key", err)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	want := Config{Baud: 115200, DataBits: 8, Parity: "none", StopBits: 1, FlowControl: "rtscts", Pace: "auto", EscapeGuard: time.Second}
	if got := Default(); got != want {
		t.Errorf("Default() = %+v, want %+v", got, want)
	}
	want.Device = "/dev/x"
	if got := (Config{Device: "/dev/x"}).WithDefaults(); got != want {
		t.Errorf("WithDefaults() = %+v, want %+v", got, want)
	}
	set := Config{Device: "/dev/y", Baud: 9600, DataBits: 7, Parity: "odd", StopBits: 2, FlowControl: "none", Pace: "off",
		EscapeGuard: 100 * time.Millisecond, DCD: true}
	if got := set.WithDefaults(); got != set {
		t.Errorf("WithDefaults() changed set fields: %+v, want %+v", got, set)
	}
	if err := want.Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
}

func TestPaceBaud(t *testing.T) {
	for _, tt := range []struct {
		pace  string
		baud  int
		isPTY bool
		want  int
	}{
		{"auto", 115200, false, 115200},
		{"auto", 921600, false, 921600},
		{"auto", 115200, true, 0},
		{"", 0, false, DefaultBaud}, // zero fields count as their defaults
		{"", 0, true, 0},
		{"on", 9600, false, 9600},
		{"on", 9600, true, 9600},
		{"off", 9600, false, 0},
		{"off", 9600, true, 0},
	} {
		c := Config{Device: "/dev/x", Baud: tt.baud, Pace: tt.pace}
		if got := c.PaceBaud(tt.isPTY); got != tt.want {
			t.Errorf("Config{Baud: %d, Pace: %q}.PaceBaud(%v) = %d, want %d", tt.baud, tt.pace, tt.isPTY, got, tt.want)
		}
	}
}
