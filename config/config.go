// Package config reads and checks c2cbridge's operator files: the daemon's
// YAML configuration and the key file that holds the pairing secrets.
//
// Both are read strictly: an unknown key is an error that names the key and
// its line, so a typo never silently falls back to a default.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	c2c "github.com/c2cbridge/c2cbridge/crypto"
	"github.com/c2cbridge/c2cbridge/modemside"
	"github.com/c2cbridge/c2cbridge/usec"
	"gopkg.in/yaml.v3"
)

// Defaults for keys the configuration leaves out. Those of the modem line
// (modem.baud ... modem.pace) are modemside's: see modemside.Default.
const (
	DefaultPTYMode = 0o660
	// DefaultProbeTimeout is session.probe_timeout: the wait for the plain
	// and encrypted AT probes at start-up.
	DefaultProbeTimeout = 2 * time.Second
	// DefaultOpenTimeout is session.open_timeout: the wait for the answer
	// to AT+USECC2C=1 (security commands can be slow).
	DefaultOpenTimeout = usec.Timeout
	// DefaultCommandTimeout is session.command_timeout: the wait for the
	// answer to the other security commands.
	DefaultCommandTimeout = usec.Timeout
	// DefaultMaxFrame is session.max_frame, the largest plaintext accepted
	// in one module frame.
	DefaultMaxFrame      = c2c.DefaultMaxPlaintext
	DefaultRekeyInterval = 24 * time.Hour
	DefaultKeepalive     = 30 * time.Second
	DefaultLogLevel      = "info"
	// DefaultLogFormat is log.format: "auto" is "journal" when stderr is
	// the systemd journal (JOURNAL_STREAM names it), else "text".
	DefaultLogFormat = "auto"
	// MinMaxFrame is the smallest session.max_frame.
	MinMaxFrame = 256
	// MaxMaxFrame is the largest session.max_frame: the most plaintext a
	// frame can carry within its 16-bit LEN.
	MaxMaxFrame = c2c.MaxPlaintextLimit
)

// ErrInvalid is wrapped by every error about a value in a configuration or
// key file, so callers can tell a bad file from an unreadable one.
var ErrInvalid = errors.New("invalid configuration")

// Config is the daemon configuration (c2cbridge run --config FILE).
type Config struct {
	Modem   Modem   `yaml:"modem"`
	PTY     PTY     `yaml:"pty"`
	Keys    Keys    `yaml:"keys"`
	Session Session `yaml:"session"`
	Status  Status  `yaml:"status"`
	Log     Log     `yaml:"log"`
	Gadget  Gadget  `yaml:"gadget"`
	Metrics Metrics `yaml:"metrics"`

	// Path is the file the configuration was read from ("" for defaults).
	Path string `yaml:"-"`
}

// Modem is the real UART: the `modem:` section. Its keys, their defaults
// and their checks are modemside.Config's, embedded here, so cfg.Modem.Baud
// reads a line setting and cfg.Modem.Config is what modemside.Open takes.
type Modem struct {
	modemside.Config `yaml:",inline"`
}

// PTY is the plaintext side offered to applications: the `pty:` section.
// By default the bridge makes a pseudo-terminal and links it at Link; with
// Device it serves an existing tty instead.
type PTY struct {
	// Link is where the bridge links the pseudo-terminal it makes, for
	// example /dev/ttyC2C0. It is required without Device and refused
	// with it: the applications then open the device's other end (the
	// USB host's /dev/ttyACM<N>), and a link to Device would only lead a
	// program on this machine to the bridge's own end.
	Link string `yaml:"link"`
	// Device is an existing kernel tty the bridge serves instead of making
	// a pseudo-terminal, for example /dev/ttyGS0, a USB gadget's ACM port
	// (see Gadget). It must be a character device that is a tty, which
	// the bridge can open for reading and writing. The bridge sees only
	// the device hang up (the USB link went away), and then reopens it;
	// it cannot see the host close its end or drop DTR. Mode and Group
	// do not apply (udev sets the device's permissions): setting either
	// with Device is an error. Empty: make a pseudo-terminal.
	Device string `yaml:"device"`
	// Mode is the pseudo-terminal's permission mode (default
	// DefaultPTYMode).
	Mode FileMode `yaml:"mode"`
	// Group, if not empty, is the pseudo-terminal's group, a name or a
	// numeric id.
	Group string `yaml:"group"`
}

// Keys names the key file.
type Keys struct {
	File string `yaml:"file"`
}

// Session holds the secure session's timing and limits.
type Session struct {
	ProbeTimeout   Duration `yaml:"probe_timeout"`
	OpenTimeout    Duration `yaml:"open_timeout"`
	CommandTimeout Duration `yaml:"command_timeout"`
	MaxFrame       Size     `yaml:"max_frame"`
	RekeyInterval  Duration `yaml:"rekey_interval"`
	RekeyBytes     Size     `yaml:"rekey_bytes"`
	Keepalive      Duration `yaml:"keepalive"`
}

// Status configures the status socket.
type Status struct {
	Socket string `yaml:"socket"`
	Group  string `yaml:"group"`
}

// Log configures logging.
type Log struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
	Trace  bool   `yaml:"trace"`
}

// Default returns a configuration with every default filled in and the
// required keys (modem.device, pty.link or pty.device, keys.file) empty.
func Default() Config {
	return Config{
		Modem: Modem{Config: modemside.Default()},
		PTY:   PTY{Mode: DefaultPTYMode},
		Session: Session{
			ProbeTimeout:   Duration(DefaultProbeTimeout),
			OpenTimeout:    Duration(DefaultOpenTimeout),
			CommandTimeout: Duration(DefaultCommandTimeout),
			MaxFrame:       DefaultMaxFrame,
			RekeyInterval:  Duration(DefaultRekeyInterval),
			Keepalive:      Duration(DefaultKeepalive),
		},
		Log:     Log{Level: DefaultLogLevel, Format: DefaultLogFormat},
		Gadget:  DefaultGadget(),
		Metrics: DefaultMetrics(),
	}
}

// Load reads and checks the configuration file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	c, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	c.Path = path
	return c, nil
}

// Parse reads a configuration from YAML text, fills in defaults and checks
// every value.
func Parse(data []byte) (*Config, error) {
	c := Default()
	if err := decodeStrict(data, &c); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// Validate checks every value and names the key of the first bad one.
func (c *Config) Validate() error {
	bad := func(key, format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrInvalid, key, fmt.Sprintf(format, args...))
	}
	if err := c.Modem.Config.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if err := c.Gadget.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if err := c.Metrics.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	switch {
	case c.PTY.Device == "" && c.PTY.Link == "":
		return bad("pty.link", "required: where to link the virtual tty, e.g. /dev/ttyC2C0 (or set pty.device to serve an existing tty)")
	case c.PTY.Device != "" && c.PTY.Link != "":
		return bad("pty.link", "does not apply with pty.device %s: applications open the device's other end (the USB host's /dev/ttyACM<N>); remove pty.link", c.PTY.Device)
	// The decoder cannot tell a default from a value set to it: an
	// explicit "0660" passes.
	case c.PTY.Device != "" && c.PTY.Mode != DefaultPTYMode:
		return bad("pty.mode", "does not apply with pty.device %s (udev sets the device's permissions); remove pty.mode", c.PTY.Device)
	case c.PTY.Device != "" && c.PTY.Group != "":
		return bad("pty.group", "does not apply with pty.device %s (udev sets the device's group); remove pty.group", c.PTY.Device)
	case c.PTY.Mode > 0o777:
		return bad("pty.mode", "%#o is not a permission mode like \"0660\"", uint32(c.PTY.Mode))
	case c.Keys.File == "":
		return bad("keys.file", "required: the key file written by c2cbridge pair, e.g. /var/lib/c2cbridge/keys.yaml")
	case c.Session.ProbeTimeout <= 0:
		return bad("session.probe_timeout", "must be positive")
	case c.Session.OpenTimeout <= 0:
		return bad("session.open_timeout", "must be positive")
	case c.Session.CommandTimeout <= 0:
		return bad("session.command_timeout", "must be positive")
	case c.Session.MaxFrame < MinMaxFrame || c.Session.MaxFrame > MaxMaxFrame:
		return bad("session.max_frame", "%d is outside %d..%d", c.Session.MaxFrame, MinMaxFrame, MaxMaxFrame)
	case c.Session.RekeyInterval < 0:
		return bad("session.rekey_interval", "must not be negative (0 disables)")
	case c.Session.RekeyBytes < 0:
		return bad("session.rekey_bytes", "must not be negative (0 disables)")
	case c.Session.Keepalive < 0:
		return bad("session.keepalive", "must not be negative (0 disables)")
	case !oneOf(c.Log.Level, "debug", "info", "warn", "error"):
		return bad("log.level", "%q is not one of debug, info, warn, error", c.Log.Level)
	case !oneOf(c.Log.Format, "auto", "text", "json", "journal"):
		return bad("log.format", "%q is not one of auto, text, json, journal", c.Log.Format)
	}
	return nil
}

func oneOf(s string, set ...string) bool {
	for _, v := range set {
		if s == v {
			return true
		}
	}
	return false
}

var (
	unknownField = regexp.MustCompile(`line (\d+): field (\S+) not found in type \S+`)
	// quotedValue matches the piece of a value yaml.v3 quotes in a type
	// error; in a key file that may be part of a secret.
	quotedValue = regexp.MustCompile("`[^`]*`")
)

// decodeStrict decodes YAML into v, refusing unknown keys and rewording the
// YAML library's errors so they say what to fix. Values are never quoted.
func decodeStrict(data []byte, v any) error { return decodeStrictHiding(data, v, false) }

// decodeStrictHiding is decodeStrict that, with hideKeys, does not quote
// an unknown key either: in a key file a mistyped line may be a secret
// (`1011...1f: x`), so the error gives only its line number.
func decodeStrictHiding(data []byte, v any, hideKeys bool) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	err := dec.Decode(v)
	if err == nil || errors.Is(err, io.EOF) {
		return nil
	}
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs := make([]string, 0, len(te.Errors))
		for _, e := range te.Errors {
			if m := unknownField.FindStringSubmatch(e); m != nil {
				e = fmt.Sprintf("line %s: unknown key %q (check its spelling and indentation)", m[1], m[2])
				if hideKeys {
					e = fmt.Sprintf("line %s: unknown key (name not shown: it may be part of a secret; check the spelling and indentation)", m[1])
				}
			}
			msgs = append(msgs, quotedValue.ReplaceAllString(e, "(value hidden)"))
		}
		return fmt.Errorf("%w: %s", ErrInvalid, strings.Join(msgs, "; "))
	}
	return fmt.Errorf("%w: %s", ErrInvalid, quotedValue.ReplaceAllString(strings.TrimPrefix(err.Error(), "yaml: "), "(value hidden)"))
}

// Duration is a time.Duration written in Go syntax ("2s", "150s", "24h").
type Duration time.Duration

// D returns the duration as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats the duration in Go syntax.
func (d Duration) String() string { return time.Duration(d).String() }

// UnmarshalYAML parses Go duration syntax; a bare 0 is allowed.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a duration like 30s", n.Line)
	}
	if n.Value == "0" {
		*d = 0
		return nil
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration (use Go syntax: 500ms, 30s, 2m, 24h)", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration in Go syntax.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// Size is a byte count, written as a plain number or with a unit:
// 4096, 64KiB, 64MiB, 1GiB, 10MB, 1kB.
type Size int64

var sizeUnits = map[string]int64{
	"": 1, "b": 1,
	"k": 1000, "kb": 1000, "m": 1000 * 1000, "mb": 1000 * 1000, "g": 1000 * 1000 * 1000, "gb": 1000 * 1000 * 1000,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
}

// ParseSize parses a byte count with an optional unit.
func ParseSize(s string) (Size, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := t, ""
	if i >= 0 {
		num, unit = t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	}
	mult, ok := sizeUnits[unit]
	if !ok || num == "" {
		return 0, fmt.Errorf("%q is not a size (use a number of bytes or a unit: 4096, 64KiB, 64MiB, 1GiB)", s)
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f < 0 || f*float64(mult) > 1<<62 {
		return 0, fmt.Errorf("%q is not a size (use a number of bytes or a unit: 4096, 64KiB, 64MiB, 1GiB)", s)
	}
	return Size(f * float64(mult)), nil
}

// UnmarshalYAML parses a size with an optional unit.
func (z *Size) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a size like 64MiB", n.Line)
	}
	v, err := ParseSize(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %v", n.Line, err)
	}
	*z = v
	return nil
}

// FileMode is a permission mode written in octal, quoted or not ("0660").
type FileMode os.FileMode

// UnmarshalYAML parses an octal mode.
func (m *FileMode) UnmarshalYAML(n *yaml.Node) error {
	v, err := strconv.ParseUint(strings.TrimPrefix(n.Value, "0o"), 8, 32)
	if n.Kind != yaml.ScalarNode || err != nil {
		return fmt.Errorf("line %d: %q is not an octal permission mode like \"0660\"", n.Line, n.Value)
	}
	*m = FileMode(v)
	return nil
}

// Perm returns the mode as an os.FileMode.
func (m FileMode) Perm() os.FileMode { return os.FileMode(m) }
