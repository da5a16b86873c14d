package main

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/c2cbridge/c2cbridge/config"
	"github.com/c2cbridge/c2cbridge/status"
)

// The files of the template unit c2cbridge@.service and of the example
// configuration for its instance modem1.
var (
	templateUnit    = filepath.Join("..", "..", "systemd", "c2cbridge@.service")
	instanceExample = filepath.Join("..", "..", "systemd", "instance.yaml.example")
)

// exampleInstance is the instance name instance.yaml.example is written for.
const exampleInstance = "modem1"

// unitSettings reads a unit file's settings: every value of each key, in
// order, with the specifier %i expanded to instance.
func unitSettings(t *testing.T, path, instance string) map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	settings := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";") || strings.HasPrefix(line, "[") {
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: not a setting: %q", path, line)
		}
		settings[key] = append(settings[key], strings.ReplaceAll(value, "%i", instance))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return settings
}

// only returns the one value of key, failing when there is not exactly one.
func only(t *testing.T, settings map[string][]string, key string) string {
	t.Helper()
	if len(settings[key]) != 1 {
		t.Fatalf("the template has %d %s= lines, want 1: %q", len(settings[key]), key, settings[key])
	}
	return settings[key][0]
}

// TestInstanceConfig: systemd/instance.yaml.example loads, every path in
// it names the instance modem1, and the paths are where c2cbridge@.service
// puts them for that instance (its StateDirectory=, RuntimeDirectory=, the
// /dev link and the key file condition), and where "c2cbridge status
// --instance modem1" looks.
func TestInstanceConfig(t *testing.T) {
	cfg, err := config.Load(instanceExample)
	if err != nil {
		t.Fatal(err)
	}
	unit := unitSettings(t, templateUnit, exampleInstance)

	// The unit runs the daemon on this instance's file, named after it.
	wantStart := "/usr/bin/c2cbridge run --config /etc/c2cbridge/instances/" + exampleInstance +
		".yaml --instance " + exampleInstance
	if got := only(t, unit, "ExecStart"); got != wantStart {
		t.Errorf("ExecStart=%s, want %s", got, wantStart)
	}

	// The key file is in the instance's state directory: the last
	// StateDirectory= entry (the first is the shared parent).
	dirs := strings.Fields(only(t, unit, "StateDirectory"))
	if len(dirs) != 2 || dirs[0] != "c2cbridge" {
		t.Fatalf("StateDirectory=%q, want the parent c2cbridge and the instance's directory", dirs)
	}
	stateDir := filepath.Join("/var/lib", dirs[1])
	runtimeDir := filepath.Join("/run", only(t, unit, "RuntimeDirectory"))
	socket, err := status.InstanceSocket(status.RunDir, exampleInstance)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct{ key, got, want string }{
		{"modem.device", cfg.Modem.Device, "/dev/c2c-" + exampleInstance},
		{"keys.file", cfg.Keys.File, filepath.Join(stateDir, "keys.yaml")},
		{"pty.link", cfg.PTY.Link, filepath.Join(runtimeDir, "ttyC2C0")},
		{"status.socket", cfg.Status.Socket, filepath.Join(runtimeDir, status.SocketName)},
		{"status.socket", cfg.Status.Socket, socket},
	} {
		if f.got != f.want {
			t.Errorf("%s is %q, want %q", f.key, f.got, f.want)
		}
		if !strings.Contains(f.got, exampleInstance) {
			t.Errorf("%s is %q: it does not name the instance %s", f.key, f.got, exampleInstance)
		}
	}

	// The unit starts only when this key file exists (or the credential).
	if conds := unit["ConditionPathExists"]; len(conds) == 0 || conds[0] != "|"+cfg.Keys.File {
		t.Errorf("ConditionPathExists=%q, want |%s first", conds, cfg.Keys.File)
	}
	// /dev/ttyC2C-NAME points at the virtual tty.
	wantLink := "+/bin/ln -sfn " + cfg.PTY.Link + " /dev/ttyC2C-" + exampleInstance
	if got := only(t, unit, "ExecStartPre"); got != wantLink {
		t.Errorf("ExecStartPre=%s, want %s", got, wantLink)
	}

	// The runtime directory is not the single service's, which systemd
	// removes when c2cbridge.service stops.
	if strings.HasPrefix(runtimeDir, "/run/c2cbridge/") {
		t.Errorf("RuntimeDirectory %s is inside c2cbridge.service's", runtimeDir)
	}
}

// TestInstanceConfigMetrics: the commented-out metrics section of
// instance.yaml.example, uncommented, loads and names the instance too.
func TestInstanceConfigMetrics(t *testing.T) {
	data, err := os.ReadFile(instanceExample)
	if err != nil {
		t.Fatal(err)
	}
	var section []string
lines:
	for _, line := range strings.Split(string(data), "\n") {
		switch {
		case line == "#metrics:":
			section = append(section, "metrics:")
		case len(section) > 0 && strings.HasPrefix(line, "#  #"):
			// A comment in the section.
		case len(section) > 0 && strings.HasPrefix(line, "#  "):
			section = append(section, line[1:])
		case len(section) > 0:
			break lines
		}
	}
	if len(section) < 2 {
		t.Fatal("instance.yaml.example has no commented-out \"#metrics:\" section")
	}
	path := filepath.Join(t.TempDir(), "modem1.yaml")
	if err := os.WriteFile(path, []byte(string(data)+strings.Join(section, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatalf("instance.yaml.example with its metrics section: %v", err)
	}
	want := "/var/lib/prometheus/node-exporter/c2cbridge-" + exampleInstance + ".prom"
	if cfg.Metrics.Textfile != want {
		t.Errorf("metrics.textfile is %q, want %q", cfg.Metrics.Textfile, want)
	}
}
