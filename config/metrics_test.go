package config

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

func TestMetricsDefaults(t *testing.T) {
	c, err := Parse([]byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	if c.Metrics.Textfile != "" || c.Metrics.Interval.D() != 15*time.Second {
		t.Fatalf("metrics defaults: %+v", c.Metrics)
	}
}

func TestMetricsValues(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       Metrics // if err is empty
		err        string  // a part of the error
	}{
		{"file and interval", "metrics:\n  textfile: /var/lib/prometheus/node-exporter/c2cbridge.prom\n  interval: 1m\n",
			Metrics{Textfile: "/var/lib/prometheus/node-exporter/c2cbridge.prom", Interval: Duration(time.Minute)}, ""},
		{"minimum interval", "metrics:\n  interval: 1s\n", Metrics{Interval: Duration(time.Second)}, ""},
		{"empty file is off", "metrics:\n  textfile: \"\"\n", DefaultMetrics(), ""},
		{"not .prom", "metrics:\n  textfile: /tmp/c2cbridge.txt\n", Metrics{}, "metrics.textfile: \"/tmp/c2cbridge.txt\" must be a file name ending in .prom"},
		{"only .prom", "metrics:\n  textfile: /tmp/.prom\n", Metrics{}, "metrics.textfile:"},
		{"a line feed", "metrics:\n  textfile: \"/tmp/a\\nb.prom\"\n", Metrics{}, "metrics.textfile: must not contain"},
		{"too short", "metrics:\n  interval: 500ms\n", Metrics{}, "metrics.interval: 500ms is shorter than the minimum 1s"},
		{"zero", "metrics:\n  interval: 0\n", Metrics{}, "metrics.interval:"},
		{"unknown key", "metrics:\n  file: x.prom\n", Metrics{}, `unknown key "file"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(minimal + tc.yaml))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !errors.Is(err, ErrInvalid) {
					t.Fatalf("err = %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Metrics != tc.want {
				t.Fatalf("got %+v, want %+v", c.Metrics, tc.want)
			}
		})
	}
}

func TestLogFormats(t *testing.T) {
	for _, f := range []string{"auto", "text", "json", "journal"} {
		if _, err := Parse([]byte(minimal + "log:\n  format: " + f + "\n")); err != nil {
			t.Errorf("log.format %s: %v", f, err)
		}
	}
	if _, err := Parse([]byte(minimal + "log:\n  format: syslog\n")); err == nil || !strings.Contains(err.Error(), "log.format") {
		t.Errorf("log.format syslog: %v", err)
	}
	c, err := Parse([]byte(minimal))
	if err != nil || c.Log.Format != "auto" {
		t.Errorf("default log.format: %v, %v", c, err)
	}
}

// TestExampleMetricsKeys checks that config.yaml.example's commented-out
// metrics section, uncommented, parses to the defaults.
func TestExampleMetricsKeys(t *testing.T) {
	data, err := os.ReadFile("../config.yaml.example")
	if err != nil {
		t.Fatal(err)
	}
	var section []string
	in := false
	for _, line := range strings.Split(string(data), "\n") {
		switch {
		case line == "#metrics:":
			in = true
		case in && strings.HasPrefix(line, "#  "):
		default:
			in = false
		}
		if in {
			section = append(section, strings.TrimPrefix(line, "#"))
		}
	}
	if len(section) < 3 {
		t.Fatalf("no commented-out metrics section with both keys in the example: %q", section)
	}
	c, err := Parse([]byte(minimal + strings.Join(section, "\n") + "\n"))
	if err != nil {
		t.Fatalf("the example's metrics section: %v", err)
	}
	if c.Metrics != DefaultMetrics() {
		t.Fatalf("the example's metrics section gives %+v, the defaults are %+v", c.Metrics, DefaultMetrics())
	}
}
