package modemside

import (
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	good := Config{Device: "/dev/ttyUSB0"}
	tests := []struct {
		name string
		cfg  Config
		want []string // substrings of the error; none means valid
	}{
		{"defaults", good, nil},
		{"everything set", Config{Device: "/dev/ttyS1", Baud: 921600, DataBits: 7, Parity: "even", StopBits: 2, FlowControl: "none"}, nil},
		{"odd parity", Config{Device: "/dev/ttyS1", Parity: "odd", FlowControl: "rtscts"}, nil},
		{"odd bit rate", Config{Device: "/dev/ttyS1", Baud: 250000}, nil},
		{"data bits 5", Config{Device: "/dev/ttyS1", DataBits: 5}, nil},
		{"no device", Config{}, []string{"modem.device: not set"}},
		{"negative baud", Config{Device: "d", Baud: -9600}, []string{"modem.baud: -9600 is not a bit rate"}},
		{"data bits 9", Config{Device: "d", DataBits: 9}, []string{"modem.data_bits: 9 is not one of 5, 6, 7, 8"}},
		{"data bits 4", Config{Device: "d", DataBits: 4}, []string{"modem.data_bits: 4 is not one of 5, 6, 7, 8"}},
		{"bogus parity", Config{Device: "d", Parity: "bogus"}, []string{`modem.parity: "bogus" is not one of none, even, odd`}},
		{"parity is case sensitive", Config{Device: "d", Parity: "Even"}, []string{`modem.parity: "Even" is not one of none, even, odd`}},
		{"mark parity", Config{Device: "d", Parity: "mark"}, []string{`modem.parity: "mark"`}},
		{"stop bits 3", Config{Device: "d", StopBits: 3}, []string{"modem.stop_bits: 3 is not one of 1, 2"}},
		{"bogus flow control", Config{Device: "d", FlowControl: "xonxoff"}, []string{`modem.flow_control: "xonxoff" is not one of rtscts, none`}},
		{"all wrong at once", Config{Baud: -1, DataBits: 1, Parity: "x", StopBits: 9, FlowControl: "y"},
			[]string{"modem.device", "modem.baud", "modem.data_bits", "modem.parity", "modem.stop_bits", "modem.flow_control"}},
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
			if got := strings.Count(err.Error(), "\n") + 1; got != len(tt.want) {
				t.Errorf("Validate() reported %d problems, want %d: %q", got, len(tt.want), err)
			}
		})
	}
}

func TestWithDefaults(t *testing.T) {
	got := Config{Device: "/dev/x"}.WithDefaults()
	want := Config{Device: "/dev/x", Baud: 115200, DataBits: 8, Parity: "none", StopBits: 1, FlowControl: "rtscts"}
	if got != want {
		t.Errorf("WithDefaults() = %+v, want %+v", got, want)
	}
	set := Config{Device: "/dev/y", Baud: 9600, DataBits: 7, Parity: "odd", StopBits: 2, FlowControl: "none"}
	if got := set.WithDefaults(); got != set {
		t.Errorf("WithDefaults() changed set fields: %+v, want %+v", got, set)
	}
	if err := want.Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
}
