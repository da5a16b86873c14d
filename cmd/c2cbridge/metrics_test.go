package main

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/c2cbridge/c2cbridge/config"
	"github.com/c2cbridge/c2cbridge/counters"
	"github.com/c2cbridge/c2cbridge/metrics"
	"github.com/c2cbridge/c2cbridge/status"
)

func TestMetricsFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c2cbridge.prom")
	var n atomic.Uint64
	snapshot := func() status.Snapshot {
		s := status.Snapshot{Device: "/dev/ttyUSB0", Session: status.Session{State: "open", Version: "V2", Since: time.Unix(1700000000, 0)}}
		s.Counters[counters.Opens] = n.Add(1)
		return s
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	stop := startMetricsFile(config.Metrics{Textfile: path, Interval: config.Duration(20 * time.Millisecond)}, snapshot, log)
	// The file is rewritten: wait for a later snapshot than the first.
	var data []byte
	deadline := time.Now().Add(5 * time.Second)
	for {
		var err error
		data, err = os.ReadFile(path)
		if err == nil && n.Load() >= 3 && !strings.Contains(string(data), `c2cbridge_opens_total{bridge="/dev/ttyUSB0"} 1`+"\n") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the file was not rewritten: %v, %q", err, data)
		}
		time.Sleep(10 * time.Millisecond)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %o, want 644", fi.Mode().Perm())
	}
	stop()
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("the file is still there after stop: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		t.Errorf("left in the directory: %v", entries)
	}
	// What was written is exactly Render's output for one snapshot.
	var want bytes.Buffer
	s := snapshot()
	s.Counters[counters.Opens] = 0
	if err := metrics.Render(&want, s, "/dev/ttyUSB0"); err != nil {
		t.Fatal(err)
	}
	strip := func(b []byte) string {
		var out []string
		for _, l := range strings.Split(string(b), "\n") {
			if !strings.HasPrefix(l, "c2cbridge_opens_total") {
				out = append(out, l)
			}
		}
		return strings.Join(out, "\n")
	}
	if strip(data) != strip(want.Bytes()) {
		t.Errorf("file:\n%s\nwant:\n%s", data, want.Bytes())
	}
}

func TestMetricsFileOff(t *testing.T) {
	stop := startMetricsFile(config.Metrics{}, func() status.Snapshot { t.Error("snapshot taken with no textfile"); return status.Snapshot{} }, slog.Default())
	stop()
}

func TestMetricsFileUnwritable(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	path := filepath.Join(t.TempDir(), "missing", "c2cbridge.prom")
	stop := startMetricsFile(config.Metrics{Textfile: path, Interval: config.Duration(10 * time.Millisecond)}, func() status.Snapshot { return status.Snapshot{} }, log)
	time.Sleep(50 * time.Millisecond)
	stop()
	if c := strings.Count(logs.String(), "cannot write the metrics file"); c != 1 {
		t.Errorf("%d warnings, want 1:\n%s", c, logs.String())
	}
}

// TestStatusPrometheus checks that status --prometheus prints what the
// metrics file would hold for the daemon's snapshot, labelled with the
// modem device the daemon reports, or its instance name when it has one.
func TestStatusPrometheus(t *testing.T) {
	want := snapshotFromBridge(statusStats(), true, "", "/dev/null")
	socket := filepath.Join(t.TempDir(), "c2c.sock")
	srv, err := status.Listen(socket, "", func() status.Snapshot { return want })
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	var stdout, stderr bytes.Buffer
	if code := cmdStatus([]string{"--config", writeStatusConfig(t, socket), "--prometheus"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d, stderr: %s", code, stderr.String())
	}
	// The snapshot went through JSON: render what the socket's JSON says.
	got, _, err := status.Query(socket, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := metrics.Render(&b, got, "/dev/null"); err != nil {
		t.Fatal(err)
	}
	if stdout.String() != b.String() || !strings.Contains(stdout.String(), `c2cbridge_info{bridge="/dev/null",version="V2",fingerprint="1a2b3c4d"} 1`) {
		t.Errorf("status --prometheus:\n%s\nwant:\n%s", stdout.String(), b.String())
	}
}
