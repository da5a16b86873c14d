package main

import (
	"bytes"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/c2cbridge/c2cbridge/bridge"
	"github.com/c2cbridge/c2cbridge/config"
	c2c "github.com/c2cbridge/c2cbridge/crypto"
)

// TestReload: SIGHUP's reload applies log.level, log.trace and the rekey
// schedule, and reports other changes as needing a restart.
func TestReload(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	base := "modem:\n  device: /dev/ttyUSB0\npty:\n  link: /dev/ttyC2C0\nkeys:\n  file: /k.yaml\n"
	if err := os.WriteFile(path, []byte(base), 0o600); err != nil {
		t.Fatal(err)
	}
	cur, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	app, _ := net.Pipe()
	modem, _ := net.Pipe()
	b, err := bridge.New(bridge.Config{Secrets: &c2c.Secrets{Key: c2c.Secret{1}}, ProbeTimeout: time.Second}, app, modem)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	log, level := newLevelLogger(&logs, "info", "text")
	changed := base + "log:\n  level: debug\n  trace: true\nsession:\n  rekey_interval: 1h\n  probe_timeout: 5s\n"
	if err := os.WriteFile(path, []byte(strings.Replace(changed, "ttyUSB0", "ttyUSB1", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	reload(cur, b, log, runOptions{level: level})
	if level.Level() != slog.LevelDebug {
		t.Fatalf("log level %v after reload", level.Level())
	}
	out := logs.String()
	for _, want := range []string{"configuration reloaded", "trace=true", "rekey_interval=1h0m0s", "need a restart", "modem", "session (except rekey_interval, rekey_bytes)"} {
		if !strings.Contains(out, want) {
			t.Fatalf("reload log lacks %q:\n%s", want, out)
		}
	}
	// A broken file changes nothing and says why.
	os.WriteFile(path, []byte(base+"bogus: 1\n"), 0o600)
	logs.Reset()
	reload(cur, b, log, runOptions{level: level})
	if !strings.Contains(logs.String(), "not reloaded") || !strings.Contains(logs.String(), "bogus") {
		t.Fatalf("broken config: %s", logs.String())
	}
}
