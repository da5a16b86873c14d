package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/c2cbridge/c2cbridge/bridge"
	"github.com/c2cbridge/c2cbridge/config"
	c2c "github.com/c2cbridge/c2cbridge/crypto"
	"github.com/c2cbridge/c2cbridge/status"
)

// statusStats returns bridge statistics with every counter set to a
// different value.
func statusStats() bridge.Stats {
	st := bridge.Stats{
		State:       bridge.StateOpen,
		ModemUp:     true,
		LastRekey:   time.Date(2025, 6, 1, 9, 0, 0, 0, time.UTC),
		NextRekey:   time.Date(2025, 6, 2, 9, 0, 0, 0, time.UTC),
		Since:       time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC),
		Version:     c2c.V2,
		Fingerprint: "1a2b3c4d",
	}
	for i := range st.Counters {
		st.Counters[i] = uint64(101 + i)
	}
	return st
}

// writeStatusConfig writes a configuration whose status.socket is socket
// ("" leaves the key out) and returns its path.
func writeStatusConfig(t *testing.T, socket string) string {
	t.Helper()
	dir := t.TempDir()
	text := fmt.Sprintf("modem:\n  device: /dev/null\npty:\n  link: %q\nkeys:\n  file: %q\n",
		filepath.Join(dir, "tty"), filepath.Join(dir, "keys.yaml"))
	if socket != "" {
		text += fmt.Sprintf("status:\n  socket: %q\n", socket)
	}
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestStatusCommand(t *testing.T) {
	want := snapshotFromBridge(statusStats(), true, "", "/dev/ttyUSB0")
	tests := []struct {
		name string
		// args returns the command line, given the daemon's socket.
		args    func(t *testing.T, socket string) []string
		jsonOut bool
		outside bool // the daemon's socket is outside $RUNTIME_DIRECTORY
	}{
		{"json, socket from --config", func(t *testing.T, s string) []string {
			return []string{"--config", writeStatusConfig(t, s), "--json"}
		}, true, true},
		{"text, socket from -c", func(t *testing.T, s string) []string {
			return []string{"-c", writeStatusConfig(t, s)}
		}, false, true},
		{"json, socket in RUNTIME_DIRECTORY", func(*testing.T, string) []string { return []string{"--json"} }, true, false},
		{"config without status.socket", func(t *testing.T, _ string) []string {
			return []string{"--json", "--config", writeStatusConfig(t, "")}
		}, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			runtimeDir, otherDir := t.TempDir(), t.TempDir()
			t.Setenv("RUNTIME_DIRECTORY", runtimeDir)
			socket := filepath.Join(runtimeDir, status.SocketName)
			if tc.outside {
				socket = filepath.Join(otherDir, "c2c.sock")
			}
			srv, err := status.Listen(socket, "", func() status.Snapshot { return want })
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			var stdout, stderr bytes.Buffer
			if code := cmdStatus(tc.args(t, socket), &stdout, &stderr); code != 0 {
				t.Fatalf("exit %d, stderr: %s", code, stderr.String())
			}
			if stderr.Len() > 0 {
				t.Errorf("stderr: %s", stderr.String())
			}
			if tc.jsonOut {
				checkStatusJSON(t, stdout.Bytes(), want)
				return
			}
			out := stdout.String()
			for _, s := range []string{"open, V2, since 2025-06-01T08:00:00Z", "2025-06-01T09:00:00Z", "2025-06-02T09:00:00Z",
				"application:  attached", "module:       attached", "1a2b3c4d"} {
				if !strings.Contains(out, s) {
					t.Errorf("output lacks %q:\n%s", s, out)
				}
			}
			for _, c := range want.Counters.List() {
				if !strings.Contains(out, fmt.Sprintf("  %s ", c.Name)) || !strings.Contains(out, fmt.Sprintf(" %d\n", c.Value)) {
					t.Errorf("output lacks counter %s = %d:\n%s", c.Name, c.Value, out)
				}
			}
		})
	}
}

// checkStatusJSON checks that out is one JSON object with the contract's
// fields, equal to want.
func checkStatusJSON(t *testing.T, out []byte, want status.Snapshot) {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("output is not a JSON object: %v\n%s", err, out)
	}
	object := func(v any, name string) map[string]any {
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("%s is %#v, not an object", name, v)
		}
		return m
	}
	session, rekey, counters := object(doc["session"], "session"), object(doc["rekey"], "rekey"), object(doc["counters"], "counters")
	for _, f := range []struct {
		name string
		v    any
		want any
	}{
		{"session.state", session["state"], "open"},
		{"session.version", session["version"], "V2"},
		{"session.since", session["since"], "2025-06-01T08:00:00Z"},
		{"rekey.last", rekey["last"], "2025-06-01T09:00:00Z"},
		{"rekey.next", rekey["next"], "2025-06-02T09:00:00Z"},
		{"application_attached", doc["application_attached"], true},
		{"module_attached", doc["module_attached"], true},
		{"fingerprint", doc["fingerprint"], "1a2b3c4d"},
	} {
		if f.v != f.want {
			t.Errorf("%s = %#v, want %#v", f.name, f.v, f.want)
		}
	}
	for _, c := range want.Counters.List() {
		if v, ok := counters[c.Name].(float64); !ok || uint64(v) != c.Value {
			t.Errorf("counters.%s = %#v, want %d", c.Name, counters[c.Name], c.Value)
		}
	}
	var got status.Snapshot
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("snapshot %+v, want %+v", got, want)
	}
}

func TestStatusUnreachable(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, socket string) []string
		want  string
	}{
		{"no socket, from --config", func(t *testing.T, s string) []string {
			return []string{"--config", writeStatusConfig(t, s)}
		}, "c2cbridge: is c2cbridge running? no status socket at %s\n"},
		{"no socket, from RUNTIME_DIRECTORY", func(*testing.T, string) []string { return []string{"--json"} },
			"c2cbridge: is c2cbridge running? no status socket at %s\n"},
		{"stale socket", func(t *testing.T, s string) []string {
			ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: s, Net: "unix"})
			if err != nil {
				t.Fatal(err)
			}
			ln.SetUnlinkOnClose(false)
			ln.Close()
			return nil
		}, "c2cbridge: is c2cbridge running? nothing answers on the status socket %s\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			t.Setenv("RUNTIME_DIRECTORY", dir)
			socket := filepath.Join(dir, status.SocketName)
			var stdout, stderr bytes.Buffer
			if code := cmdStatus(tc.setup(t, socket), &stdout, &stderr); code != 1 {
				t.Errorf("exit %d, want 1", code)
			}
			if want := fmt.Sprintf(tc.want, socket); stderr.String() != want {
				t.Errorf("stderr %q, want %q", stderr.String(), want)
			}
			if stdout.Len() > 0 {
				t.Errorf("stdout: %q", stdout.String())
			}
		})
	}
}

func TestStatusUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"extra argument", []string{"now"}, 2, `unexpected argument "now"`},
		{"unknown flag", []string{"--yaml"}, 2, "flag provided but not defined"},
		{"missing config", []string{"--config", "/nonexistent/c2cbridge.yaml"}, 1, "read config"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := cmdStatus(tc.args, &stdout, &stderr); code != tc.code {
				t.Errorf("exit %d, want %d", code, tc.code)
			}
			if !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("stderr %q lacks %q", stderr.String(), tc.want)
			}
		})
	}
}

func TestSnapshotFromBridge(t *testing.T) {
	st := statusStats()
	s := snapshotFromBridge(st, true, "", "/dev/ttyUSB0")
	if s.Session != (status.Session{State: "open", Version: "V2", Since: st.Since}) {
		t.Errorf("session %+v", s.Session)
	}
	if s.Rekey.Last == nil || !s.Rekey.Last.Equal(st.LastRekey) || s.Rekey.Next == nil || !s.Rekey.Next.Equal(st.NextRekey) {
		t.Errorf("rekey %v, %v; want %v, %v", s.Rekey.Last, s.Rekey.Next, st.LastRekey, st.NextRekey)
	}
	if !s.ApplicationAttached || !s.ModuleAttached || s.Fingerprint != st.Fingerprint {
		t.Errorf("attached %v, module %v, fingerprint %q", s.ApplicationAttached, s.ModuleAttached, s.Fingerprint)
	}
	if s.Counters != st.Counters {
		t.Errorf("counters %v, want the bridge's %v", s.Counters, st.Counters)
	}

	// Unknown rekey times are null; states map by name.
	st = bridge.Stats{State: bridge.StateModemLost, Version: c2c.V1}
	s = snapshotFromBridge(st, false, "", "/dev/ttyUSB0")
	if s.Rekey.Last != nil || s.Rekey.Next != nil {
		t.Errorf("zero rekey times map to %v, %v; want nil", s.Rekey.Last, s.Rekey.Next)
	}
	if s.Session.State != "module lost" || s.Session.Version != "V1" || s.ApplicationAttached || s.ModuleAttached {
		t.Errorf("snapshot %+v", s)
	}
}

func TestStatusText(t *testing.T) {
	tests := []struct {
		state   bridge.State
		modemUp bool
		unsaved bool
		want    string
	}{
		{bridge.StateOpening, true, false, "session opening, V2, fingerprint 1a2b3c4d"},
		{bridge.StateOpen, true, false, "session open, V2, fingerprint 1a2b3c4d"},
		{bridge.StateRekeying, true, false, "session rekeying, V2, fingerprint 1a2b3c4d"},
		{bridge.StateModuleRebooted, true, false, "session module rebooted, V2, fingerprint 1a2b3c4d"},
		{bridge.StateModemLost, false, false, "session module lost, V2, fingerprint 1a2b3c4d: waiting for the modem"},
		{bridge.StateOpen, true, true, "session open, V2, fingerprint 1a2b3c4d, key file not saved"},
	}
	for _, tc := range tests {
		st := bridge.Stats{State: tc.state, ModemUp: tc.modemUp, KeyFileUnsaved: tc.unsaved, Version: c2c.V2, Fingerprint: "1a2b3c4d"}
		if got := statusText(st); got != tc.want {
			t.Errorf("statusText(%s) = %q, want %q", tc.state, got, tc.want)
		}
	}
}

// TestServiceConfig checks the configuration shipped for the systemd
// service: it loads, and run puts the status socket where status looks.
func TestServiceConfig(t *testing.T) {
	cfg, err := config.Load(filepath.Join("..", "..", "systemd", "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct{ name, got, want string }{
		{"modem.device", cfg.Modem.Device, "/dev/c2c-modem"},
		{"pty.link", cfg.PTY.Link, "/run/c2cbridge/ttyC2C0"},
		{"keys.file", cfg.Keys.File, "/var/lib/c2cbridge/keys.yaml"},
	} {
		if f.got != f.want {
			t.Errorf("%s = %q, want %q", f.name, f.got, f.want)
		}
	}
	t.Setenv("RUNTIME_DIRECTORY", "/run/c2cbridge")
	inService := status.SocketPath(cfg.Status.Socket)
	t.Setenv("RUNTIME_DIRECTORY", "")
	if outside := status.SocketPath(""); inService != outside {
		t.Errorf("the service's socket is %s, c2cbridge status looks at %s", inService, outside)
	}
}
