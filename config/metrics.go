package config

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"
)

// Defaults and limits of the metrics section.
const (
	// DefaultMetricsInterval is metrics.interval: how often the textfile
	// is rewritten.
	DefaultMetricsInterval = 15 * time.Second
	// MinMetricsInterval is the shortest metrics.interval.
	MinMetricsInterval = time.Second
	// MetricsTextfileExt is the extension node_exporter's textfile
	// collector reads, which metrics.textfile must end with.
	MetricsTextfileExt = ".prom"
)

// Metrics is the `metrics:` section: a file in the Prometheus text format
// for node_exporter's textfile collector, rewritten every Interval.
type Metrics struct {
	// Textfile is the file's path, ending in ".prom"; empty (the
	// default) writes no file.
	Textfile string `yaml:"textfile"`
	// Interval is how often the file is rewritten.
	Interval Duration `yaml:"interval"`
}

// DefaultMetrics returns the metrics section's defaults: no file.
func DefaultMetrics() Metrics {
	return Metrics{Interval: Duration(DefaultMetricsInterval)}
}

// Validate checks the section and names the key of the first bad value
// (metrics.KEY).
func (m *Metrics) Validate() error {
	bad := func(key, format string, args ...any) error {
		return fmt.Errorf("metrics.%s: %s", key, fmt.Sprintf(format, args...))
	}
	switch {
	case m.Textfile != "" && (filepath.Ext(m.Textfile) != MetricsTextfileExt || filepath.Base(m.Textfile) == MetricsTextfileExt):
		return bad("textfile", "%q must be a file name ending in %s (node_exporter's textfile collector reads only those)", m.Textfile, MetricsTextfileExt)
	case strings.ContainsAny(m.Textfile, "\x00\n"):
		return bad("textfile", "must not contain a NUL or a line feed")
	case m.Interval.D() < MinMetricsInterval:
		return bad("interval", "%s is shorter than the minimum %s", m.Interval, MinMetricsInterval)
	}
	return nil
}
