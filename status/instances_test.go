package status

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/c2cbridge/c2cbridge/counters"
)

func TestCheckInstance(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"modem1", true}, {"a", true}, {"sim-2.b_c:d", true}, {`x\x2d`, true},
		{"", false}, {".", false}, {"..", false}, {"a/b", false}, {"a b", false},
		{"tab\t", false}, {strings.Repeat("m", 64), true}, {strings.Repeat("m", 65), false},
	} {
		err := CheckInstance(tc.name)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrBadInstance)) {
			t.Errorf("CheckInstance(%q) = %v, want ok %v", tc.name, err, tc.ok)
		}
	}
}

func TestInstanceSocket(t *testing.T) {
	got, err := InstanceSocket("/run", "modem1")
	if err != nil || got != "/run/c2cbridge-modem1/status.sock" {
		t.Errorf("InstanceSocket = %q, %v", got, err)
	}
	if _, err := InstanceSocket("/run", "../etc"); !errors.Is(err, ErrBadInstance) {
		t.Errorf("a path as instance name: %v", err)
	}
}

// mkSocket makes a unix socket file at path (nothing serves it once the
// listener is closed, and the file stays).
func mkSocket(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
}

func TestInstances(t *testing.T) {
	run := t.TempDir()
	mkSocket(t, filepath.Join(run, "c2cbridge-modem2", SocketName))
	mkSocket(t, filepath.Join(run, "c2cbridge-modem1", SocketName))
	mkSocket(t, filepath.Join(run, "c2cbridge", SocketName))
	// Not listed: a directory without a socket, a plain file named like
	// one, another program's directory, a file named like a directory.
	os.MkdirAll(filepath.Join(run, "c2cbridge-empty"), 0o755)
	os.MkdirAll(filepath.Join(run, "c2cbridge-file"), 0o755)
	os.WriteFile(filepath.Join(run, "c2cbridge-file", SocketName), nil, 0o644)
	mkSocket(t, filepath.Join(run, "c2cbridgeX", SocketName))
	os.WriteFile(filepath.Join(run, "c2cbridge-notadir"), nil, 0o644)
	got, err := Instances(run)
	if err != nil {
		t.Fatal(err)
	}
	want := []Found{
		{"", filepath.Join(run, "c2cbridge", SocketName)},
		{"modem1", filepath.Join(run, "c2cbridge-modem1", SocketName)},
		{"modem2", filepath.Join(run, "c2cbridge-modem2", SocketName)},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Instances = %v\nwant %v", got, want)
	}
	if _, err := Instances(filepath.Join(run, "missing")); err == nil {
		t.Error("no error for a missing run directory")
	}
}

func TestFormatList(t *testing.T) {
	now := time.Date(2025, 6, 1, 10, 0, 0, 0, time.UTC)
	last := now.Add(-5 * time.Minute)
	ok := Snapshot{Session: Session{State: "open", Version: "V2"}, Fingerprint: "1a2b3c4d",
		Rekey: Rekey{Last: &last}, ApplicationAttached: true, ModuleAttached: true}
	ok.Counters[counters.RefusedCommands] = 4 // not a failure: not shown
	bad := Snapshot{Session: Session{State: "module lost", Version: "V1"}, Fingerprint: "99aa00ff", KeyFileUnsaved: true}
	bad.Counters[counters.MACFailures] = 3
	bad.Counters[counters.AppOverruns] = 70
	var b strings.Builder
	err := formatListAt(&b, []Listed{
		{Instance: "", Snapshot: ok},
		{Instance: "modem2", Snapshot: bad},
		{Instance: "modem3", Err: errors.New("is c2cbridge running?\nno socket")},
	}, now)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d lines, want a header and 3:\n%s", len(lines), b.String())
	}
	for i, want := range [][]string{
		{"INSTANCE", "STATE", "FINGERPRINT", "NOTES"},
		{SingleInstance + " ", "open", "V2", "1a2b3c4d", "5m0s ago", "attached", " -"},
		{"modem2", "module lost", "V1", "99aa00ff", "none", "not attached", "key_file_unsaved", "module not attached", "mac_failures=3", "app_overruns=70"},
		{"modem3", "unreachable", "is c2cbridge running? no socket"},
	} {
		for _, w := range want {
			if !strings.Contains(lines[i], w) {
				t.Errorf("line %d lacks %q: %q", i, w, lines[i])
			}
		}
	}
	if strings.Contains(lines[1], "refused_commands") {
		t.Errorf("a non-failure counter in the notes: %q", lines[1])
	}
}
