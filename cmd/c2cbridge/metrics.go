package main

// metrics.textfile: the daemon rewrites a Prometheus text file for
// node_exporter's textfile collector every metrics.interval.

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"time"

	"github.com/c2cbridge/c2cbridge/config"
	"github.com/c2cbridge/c2cbridge/metrics"
	"github.com/c2cbridge/c2cbridge/status"
)

// metricsFileMode lets node_exporter, another user, read the file.
const metricsFileMode = 0o644

// writeMetricsFile writes snapshot's metrics, labelled bridge=s.Name(),
// to path atomically (a temp file renamed in the same directory, so the
// collector never reads half a file).
func writeMetricsFile(path string, s status.Snapshot) error {
	var b bytes.Buffer
	if err := metrics.Render(&b, s, s.Name()); err != nil {
		return err
	}
	return config.WriteFileAtomic(path, b.Bytes(), metricsFileMode)
}

// runMetricsFile writes the metrics file at once and then every interval
// until ctx ends, then removes it (stale metrics of a stopped bridge
// would look alive). A failed write is logged once, and its recovery.
func runMetricsFile(ctx context.Context, path string, every time.Duration, snapshot func() status.Snapshot, log *slog.Logger) {
	failing := false
	write := func() {
		err := writeMetricsFile(path, snapshot())
		switch {
		case err != nil && !failing:
			log.Warn("metrics.textfile: cannot write the metrics file; retrying every metrics.interval", "path", path, "err", err)
		case err == nil && failing:
			log.Info("metrics.textfile: the metrics file is written again", "path", path)
		}
		failing = err != nil
	}
	write()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			write()
		case <-ctx.Done():
			if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				log.Warn("metrics.textfile: cannot remove the metrics file", "path", path, "err", err)
			}
			return
		}
	}
}

// startMetricsFile runs runMetricsFile in a goroutine when cfg sets
// metrics.textfile. The returned function stops it and waits until the
// file is removed.
func startMetricsFile(cfg config.Metrics, snapshot func() status.Snapshot, log *slog.Logger) (stop func()) {
	if cfg.Textfile == "" {
		return func() {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		runMetricsFile(ctx, cfg.Textfile, cfg.Interval.D(), snapshot, log)
	}()
	return func() { cancel(); <-done }
}
