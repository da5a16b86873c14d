package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/c2cbridge/c2cbridge/counters"
	"github.com/c2cbridge/c2cbridge/status"
)

// serveInstance serves snap on the status socket of instance name ("":
// the single service) under run, as a daemon would.
func serveInstance(t *testing.T, run, name string, snap status.Snapshot) {
	t.Helper()
	dir := filepath.Join(run, status.RuntimeDirName)
	if name != "" {
		dir = filepath.Join(run, status.InstanceDirPrefix+name)
	}
	srv, err := status.Listen(filepath.Join(dir, status.SocketName), "", func() status.Snapshot { return snap })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
}

func TestStatusInstance(t *testing.T) {
	run := t.TempDir()
	one := snapshotFromBridge(statusStats(), true, "modem1", "/dev/c2c-modem1")
	two := snapshotFromBridge(statusStats(), false, "modem2", "/dev/c2c-modem2")
	serveInstance(t, run, "modem1", one)
	serveInstance(t, run, "modem2", two)
	var stdout, stderr bytes.Buffer
	if code := runStatus(run, []string{"--instance", "modem2", "--json"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var got status.Snapshot
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil || got.Instance != "modem2" || got.Device != "/dev/c2c-modem2" {
		t.Errorf("status --instance modem2: %v %+v", err, got)
	}
	stdout.Reset()
	if code := runStatus(run, []string{"--instance", "modem1", "--prometheus"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), `c2cbridge_opens_total{bridge="modem1"}`) {
		t.Errorf("--prometheus is not labelled with the instance:\n%s", stdout.String())
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--instance", "modem3"}, 1, "c2cbridge-modem3/status.sock"},
		{[]string{"--instance", "../x"}, 1, "not an instance name"},
		{[]string{"--instance", "modem1", "--all"}, 2, "give one of them"},
		{[]string{"--instance", "modem1", "--config", "x.yaml"}, 2, "give one of them"},
		{[]string{"--all", "--prometheus"}, 2, "each instance writes its own"},
		{[]string{"--json", "--prometheus"}, 2, "give one of them"},
	} {
		var out, errb bytes.Buffer
		code := runStatus(run, tc.args, &out, &errb)
		if code != tc.code || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("status %v: exit %d, stderr %q; want %d and %q", tc.args, code, errb.String(), tc.code, tc.want)
		}
	}
}

func TestStatusAll(t *testing.T) {
	run := t.TempDir()
	single := snapshotFromBridge(statusStats(), true, "", "/dev/c2c-modem")
	one := snapshotFromBridge(statusStats(), true, "modem1", "/dev/c2c-modem1")
	bad := statusStats()
	bad.KeyFileUnsaved = true
	two := snapshotFromBridge(bad, false, "modem2", "/dev/c2c-modem2")
	// Only modem2 has a failure to note.
	single.Counters, one.Counters, two.Counters = status.Counters{}, status.Counters{}, status.Counters{}
	two.Counters[counters.MACFailures] = 2
	serveInstance(t, run, "", single)
	serveInstance(t, run, "modem1", one)
	serveInstance(t, run, "modem2", two)
	// A stale socket: its daemon is gone.
	stale := filepath.Join(run, "c2cbridge-gone")
	os.MkdirAll(stale, 0o755)
	mkStaleSocket(t, filepath.Join(stale, status.SocketName))

	var stdout, stderr bytes.Buffer
	if code := runStatus(run, []string{"--all"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	lines := strings.Split(strings.TrimRight(stdout.String(), "\n"), "\n")
	if len(lines) != 5 {
		t.Fatalf("want a header and 4 lines:\n%s", stdout.String())
	}
	for i, want := range []string{"INSTANCE", status.SingleInstance + " ", "gone", "modem1", "modem2"} {
		if !strings.HasPrefix(lines[i], want) {
			t.Errorf("line %d = %q, want it to start with %q", i, lines[i], want)
		}
	}
	if !strings.Contains(lines[2], "unreachable") || !strings.Contains(lines[4], "key_file_unsaved") ||
		!strings.Contains(lines[4], "mac_failures=2") || strings.Contains(lines[3], "mac_failures") {
		t.Errorf("listing:\n%s", stdout.String())
	}

	stdout.Reset()
	stderr.Reset()
	if code := runStatus(run, []string{"--all", "--json"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var arr []map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &arr); err != nil {
		t.Fatalf("not a JSON array: %v\n%s", err, stdout.String())
	}
	var names []string
	for _, o := range arr {
		name, ok := o["instance"].(string)
		if !ok {
			t.Errorf("element without a string \"instance\": %v", o)
		}
		names = append(names, name)
		if _, ok := o["session"]; !ok {
			t.Errorf("element without today's fields: %v", o)
		}
	}
	if strings.Join(names, ",") != ",modem1,modem2" {
		t.Errorf("instances %q, want the single service, modem1, modem2", names)
	}
	if !strings.Contains(stderr.String(), `instance "gone"`) {
		t.Errorf("the unreachable instance is not reported on stderr: %q", stderr.String())
	}

	empty := t.TempDir()
	stderr.Reset()
	if code := runStatus(empty, []string{"--all"}, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "no status socket") {
		t.Errorf("no daemons: exit %d, %q", code, stderr.String())
	}
}

// mkStaleSocket leaves a socket file nothing serves.
func mkStaleSocket(t *testing.T, path string) {
	t.Helper()
	srv, err := status.Listen(path, "", func() status.Snapshot { return status.Snapshot{} })
	if err != nil {
		t.Fatal(err)
	}
	// Keep the file: rename it away and back around Close, which removes
	// only its own socket file.
	tmp := path + ".keep"
	if err := os.Rename(path, tmp); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}
