package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/c2cbridge/c2cbridge/modemside"
)

const minimal = `
modem:
  device: /dev/ttyUSB0
pty:
  link: /dev/ttyC2C0
keys:
  file: /var/lib/c2cbridge/keys.yaml
`

func TestParseDefaults(t *testing.T) {
	c, err := Parse([]byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	if c.Modem.Baud != 115200 || c.Modem.FlowControl != "rtscts" || c.Modem.Parity != "none" ||
		c.Modem.DataBits != 8 || c.Modem.StopBits != 1 || c.Modem.Pace != "auto" || c.Modem.Device != "/dev/ttyUSB0" ||
		c.Session.ProbeTimeout.D() != 2*time.Second || c.Session.CommandTimeout.D() != 150*time.Second ||
		c.Session.OpenTimeout.D() != 150*time.Second || c.Session.MaxFrame != 4096 ||
		c.Session.RekeyInterval.D() != 24*time.Hour || c.Session.Keepalive.D() != 30*time.Second ||
		c.Log.Level != "info" || c.PTY.Mode != 0o660 {
		t.Fatalf("defaults not applied: %+v", c)
	}
}

func TestParseExample(t *testing.T) {
	data, err := os.ReadFile("../config.yaml.example")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(data)
	if err != nil {
		t.Fatalf("config.yaml.example: %v", err)
	}
	if c.Session.RekeyInterval.D() != 24*time.Hour || c.PTY.Group != "dialout" {
		t.Fatalf("example: %+v", c.Session)
	}
}

func TestParseValues(t *testing.T) {
	c, err := Parse([]byte(minimal + `
session:
  rekey_interval: 0
  rekey_bytes: 64MiB
  max_frame: 8KiB
  keepalive: 1m30s
pty:
  link: /dev/ttyC2C0
  mode: 0640
`))
	if err == nil {
		t.Fatalf("duplicate pty key accepted: %+v", c)
	}
	c, err = Parse([]byte(strings.Replace(minimal, "pty:\n  link: /dev/ttyC2C0\n", "pty:\n  link: /dev/ttyC2C0\n  mode: 0640\n", 1) + `
session:
  rekey_interval: 0
  rekey_bytes: 64MiB
  max_frame: 8KiB
  keepalive: 1m30s
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Session.RekeyInterval != 0 || c.Session.RekeyBytes != 64<<20 || c.Session.MaxFrame != 8192 ||
		c.Session.Keepalive.D() != 90*time.Second || c.PTY.Mode != 0o640 {
		t.Fatalf("values: %+v %+v", c.Session, c.PTY)
	}
}

// pty.device replaces pty.link; mode and group keep their defaults.
func TestParseDevice(t *testing.T) {
	c, err := Parse([]byte(strings.Replace(minimal, "  link: /dev/ttyC2C0", "  device: /dev/ttyGS0", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if want := (PTY{Device: "/dev/ttyGS0", Mode: DefaultPTYMode}); c.PTY != want {
		t.Fatalf("pty: %+v, want %+v", c.PTY, want)
	}
}

func TestParseModem(t *testing.T) {
	c, err := Parse([]byte(strings.Replace(minimal, "/dev/ttyUSB0", `/dev/ttyS3
  baud: 921600
  data_bits: 7
  parity: even
  stop_bits: 2
  flow_control: none
  pace: "on"
  escape_guard: 200ms
  dcd: true`, 1)))
	if err != nil {
		t.Fatal(err)
	}
	want := modemside.Config{Device: "/dev/ttyS3", Baud: 921600, DataBits: 7, Parity: "even", StopBits: 2, FlowControl: "none", Pace: "on",
		EscapeGuard: 200 * time.Millisecond, DCD: true}
	if c.Modem.Config != want {
		t.Fatalf("modem: %+v, want %+v", c.Modem.Config, want)
	}
}

func TestMaxFrameBounds(t *testing.T) {
	for n, ok := range map[int]bool{MinMaxFrame - 1: false, MinMaxFrame: true, MaxMaxFrame: true, MaxMaxFrame + 1: false} {
		_, err := Parse([]byte(fmt.Sprintf("%ssession:\n  max_frame: %d\n", minimal, n)))
		if (err == nil) != ok {
			t.Errorf("max_frame %d: %v, want accepted %v", n, err, ok)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       []string
	}{
		{"unknown key", minimal + "session:\n  rekey_intervall: 1h\n", []string{"line 9", `unknown key "rekey_intervall"`}},
		{"unknown section", minimal + "modems:\n  baud: 1\n", []string{"line 8", `"modems"`}},
		{"missing device", "pty:\n  link: /x\nkeys:\n  file: /k\n", []string{"modem.device", "required"}},
		{"missing link", "modem:\n  device: /d\nkeys:\n  file: /k\n", []string{"pty.link"}},
		{"missing keys", "modem:\n  device: /d\npty:\n  link: /x\n", []string{"keys.file"}},
		{"device and link", strings.Replace(minimal, "  link: /dev/ttyC2C0", "  device: /dev/ttyGS0\n  link: /dev/ttyC2C0", 1), []string{"pty.link: does not apply with pty.device /dev/ttyGS0"}},
		{"device and mode", strings.Replace(minimal, "  link: /dev/ttyC2C0", "  device: /dev/ttyGS0\n  mode: \"0600\"", 1), []string{"pty.mode: does not apply with pty.device /dev/ttyGS0", "udev"}},
		{"device and group", strings.Replace(minimal, "  link: /dev/ttyC2C0", "  device: /dev/ttyGS0\n  group: dialout", 1), []string{"pty.group: does not apply with pty.device /dev/ttyGS0", "udev"}},
		{"bad parity", minimal + "  parity: mark\n", nil},
		{"bad parity in modem", strings.Replace(minimal, "/dev/ttyUSB0", "/dev/ttyUSB0\n  parity: mark", 1), []string{`modem.parity: "mark" is not one of none, even, odd`}},
		{"unknown key in modem", strings.Replace(minimal, "/dev/ttyUSB0", "/dev/ttyUSB0\n  bauds: 9600", 1), []string{"line 4", `unknown key "bauds"`}},
		{"zero baud", strings.Replace(minimal, "/dev/ttyUSB0", "/dev/ttyUSB0\n  baud: 0", 1), []string{"modem.baud", "positive"}},
		{"bad pace", strings.Replace(minimal, "/dev/ttyUSB0", "/dev/ttyUSB0\n  pace: always", 1), []string{"modem.pace", "always"}},
		{"escape guard too long", strings.Replace(minimal, "/dev/ttyUSB0", "/dev/ttyUSB0\n  escape_guard: 10s", 1), []string{"modem.escape_guard", "10s"}},
		{"escape guard not a duration", strings.Replace(minimal, "/dev/ttyUSB0", "/dev/ttyUSB0\n  escape_guard: soon", 1), []string{"line 4", "Duration"}},
		{"bad duration", minimal + "session:\n  open_timeout: 150\n", []string{"line 9", "not a duration"}},
		{"bad size", minimal + "session:\n  rekey_bytes: lots\n", []string{"not a size"}},
		{"bad level", minimal + "log:\n  level: loud\n", []string{"log.level", "loud"}},
		{"bad flow", strings.Replace(minimal, "/dev/ttyUSB0", "/dev/ttyUSB0\n  flow_control: xonxoff", 1), []string{"modem.flow_control", "xonxoff"}},
		{"bad mode", strings.Replace(minimal, "/dev/ttyC2C0", "/dev/ttyC2C0\n  mode: rw-rw----", 1), []string{"octal"}},
		{"tiny max_frame", minimal + "session:\n  max_frame: 10\n", []string{"session.max_frame"}},
		{"max_frame beyond LEN", minimal + "session:\n  max_frame: 65472\n", []string{"session.max_frame", "256..65471"}},
		{"not yaml", "modem: [", []string{"invalid"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml))
			if err == nil {
				t.Fatal("accepted")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("%v does not wrap ErrInvalid", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]Size{"0": 0, "4096": 4096, "64MiB": 64 << 20, "1 GiB": 1 << 30, "10MB": 10e6, "4KiB": 4096, "1.5KiB": 1536} {
		got, err := ParseSize(in)
		if err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "MiB", "12 parsecs", "-1", "1e3"} {
		if _, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) accepted", in)
		}
	}
}

const keysV2 = `te_secret: 000102030405060708090a0b0c0d0e0f
key: 101112131415161718191A1B1C1D1E1F
hmac_key: 202122232425262728292a2b2c2d2e2f
`

func writeKeys(t *testing.T, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "keys.yaml")
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReadKeyFile(t *testing.T) {
	kf, err := ReadKeyFile(writeKeys(t, keysV2, 0o600))
	if err != nil {
		t.Fatal(err)
	}
	if kf.Secrets.Version() != 2 || kf.Secrets.Key[15] != 0x1f || kf.Previous != nil {
		t.Fatalf("parsed %v", &kf.Secrets)
	}
	kf, err = ReadKeyFile(writeKeys(t, "te_secret: 000102030405060708090a0b0c0d0e0f\nkey: 101112131415161718191a1b1c1d1e1f\n", 0o400))
	if err != nil || kf.Secrets.Version() != 1 {
		t.Fatalf("V1 key file: %v", err)
	}
	kf, err = ReadKeyFile(writeKeys(t, keysV2+"previous:\n  key: 303132333435363738393a3b3c3d3e3f\n  hmac_key: 404142434445464748494a4b4c4d4e4f\n", 0o600))
	if err != nil || kf.Previous == nil || kf.Previous.TESecret != kf.Secrets.TESecret || kf.Previous.Key[0] != 0x30 {
		t.Fatalf("previous: %v", err)
	}
}

func TestReadKeyFileErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		content string
		mode    os.FileMode
		want    []string
	}{
		{"group readable", keysV2, 0o640, []string{"readable or writable by group or others", "chmod 600"}},
		{"world writable", keysV2, 0o602, []string{"chmod 600"}},
		{"short key", strings.Replace(keysV2, "1E1F", "1E", 1), 0o600, []string{"key:", "32 hex"}},
		{"not hex", strings.Replace(keysV2, "2021", "zz21", 1), 0o600, []string{"hmac_key", "hex"}},
		{"missing te_secret", "key: 101112131415161718191a1b1c1d1e1f\n", 0o600, []string{"te_secret: missing"}},
		{"unknown key", keysV2 + "hmac: 00\n", 0o600, []string{"unknown key (name not shown", "line 4"}},
		{"a secret on a line of its own", keysV2 + "00112233445566778899aabbccddeeff: x\n", 0o600, []string{"unknown key (name not shown", "line 4"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := writeKeys(t, tc.content, tc.mode)
			_, err := ReadKeyFile(p)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if low := strings.ToLower(err.Error()); strings.Contains(low, "101112131415") || strings.Contains(low, "00112233") {
				t.Errorf("error leaks a secret: %v", err)
			}
		})
	}
	if _, err := ReadKeyFile(filepath.Join(t.TempDir(), "none.yaml")); err == nil || !strings.Contains(err.Error(), "c2cbridge pair") {
		t.Errorf("missing file: %v", err)
	}
}

func TestWriteKeyFileAtomic(t *testing.T) {
	kf, err := ParseKeyFile([]byte(keysV2))
	if err != nil {
		t.Fatal(err)
	}
	prev := kf.Secrets
	kf.Previous = &prev
	kf.Secrets.Key[0] ^= 0xFF
	dir := t.TempDir()
	p := filepath.Join(dir, "keys.yaml")
	if err := WriteKeyFile(p, kf); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(p)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v", st.Mode(), err)
	}
	back, err := ReadKeyFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if back.Secrets != kf.Secrets || back.Previous == nil || back.Previous.Key != prev.Key || back.Previous.HMACKey != prev.HMACKey {
		t.Fatal("round trip differs")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("temporary files left: %v", entries)
	}
	// Writing into a directory that does not exist fails cleanly.
	if err := WriteKeyFile(filepath.Join(dir, "no", "keys.yaml"), kf); err == nil {
		t.Fatal("write into a missing directory succeeded")
	}
}

func TestKeyFileErrorsHideValues(t *testing.T) {
	for _, content := range []string{
		"000102030405060708090a0b0c0d0e0f\n",
		"te_secret: [000102030405060708090a0b0c0d0e0f]\nkey: 101112131415161718191a1b1c1d1e1f\n",
	} {
		_, err := ParseKeyFile([]byte(content))
		if err == nil {
			t.Fatalf("%q accepted", content)
		}
		if strings.Contains(err.Error(), "0001020304") || strings.Contains(err.Error(), "00010203") {
			t.Fatalf("error shows part of a secret: %v", err)
		}
	}
}
