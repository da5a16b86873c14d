package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/c2cbridge/c2cbridge/config"
	c2c "github.com/c2cbridge/c2cbridge/crypto"
	"github.com/c2cbridge/c2cbridge/modemsim"
	"github.com/c2cbridge/c2cbridge/ptyside"
)

func cmdDemo(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	v1 := fs.Bool("v1", false, "simulate a V1 module")
	dir := fs.String("dir", "", "`DIR` for the demo's files (default: a new temporary directory)")
	level := fs.String("log", "info", "log `LEVEL`: debug, info, warn, error")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *dir == "" {
		d, err := os.MkdirTemp("", "c2cbridge-demo-")
		if err != nil {
			return fail(stderr, err)
		}
		defer os.RemoveAll(d)
		*dir = d
	}
	log := newLogger(stderr, *level, "text")

	// Throwaway secrets, as if the module had just been paired.
	v := c2c.V2
	if *v1 {
		v = c2c.V1
	}
	kf := &config.KeyFile{Secrets: *c2c.RandomSecrets(v)}
	defer kf.Secrets.Zero()
	keyPath := filepath.Join(*dir, "keys.yaml")
	if err := config.WriteKeyFile(keyPath, kf); err != nil {
		return fail(stderr, err)
	}
	mod, err := modemsim.New(modemsim.Config{Secrets: &kf.Secrets, Version: kf.Secrets.Version(), Logger: log.With("side", "modemsim")})
	if err != nil {
		return fail(stderr, err)
	}
	defer mod.Close()
	ctx, stop := signalContext(log)
	defer stop()
	// The module outlives the bridge, so the bridge can close its session.
	modCtx, modStop := context.WithCancel(context.Background())
	defer modStop()
	modemLink := filepath.Join(*dir, "modem")
	srv, err := modemsim.ServePTY(modCtx, mod, modemLink)
	if err != nil {
		return fail(stderr, err)
	}
	defer srv.Close()

	cfg := config.Default()
	cfg.Modem.Device = modemLink
	cfg.PTY.Link = filepath.Join(*dir, "ttyC2C0")
	cfg.PTY.Mode = 0o600
	cfg.Keys.File = keyPath
	cfg.Status.Socket = filepath.Join(*dir, "status.sock")
	cfg.Log.Level = *level
	if err := cfg.Validate(); err != nil {
		return fail(stderr, err)
	}
	// The same settings as a file, for c2cbridge status --config.
	cfgText := fmt.Sprintf("modem:\n  device: %q\npty:\n  link: %q\n  mode: \"0600\"\nkeys:\n  file: %q\nstatus:\n  socket: %q\n",
		cfg.Modem.Device, cfg.PTY.Link, cfg.Keys.File, cfg.Status.Socket)
	if err := os.WriteFile(filepath.Join(*dir, "config.yaml"), []byte(cfgText), 0o600); err != nil {
		return fail(stderr, err)
	}
	err = runBridge(ctx, &cfg, log, func(tty ptyside.Device) {
		fmt.Fprintf(stdout, `
c2cbridge demo: the bridge is running in front of a simulated SARA-R5 (%v).
  virtual tty:   %s -> %s
  modem UART:    %s (only C2C frames cross it)
Try, in another terminal:
  printf 'ATI\r' | socat -t1 - %s,raw,echo=0
  picocom --echo %s      (type AT+CGMI and Enter; Ctrl-A Ctrl-X quits)
  go run ./cmd/c2cbridge status --config %s      (counters; run it from another terminal)
Ctrl-C stops the demo.

`, &kf.Secrets, tty.Link(), tty.Path(), modemLink, tty.Link(), tty.Link(), filepath.Join(*dir, "config.yaml"))
	})
	if err != nil && ctx.Err() == nil {
		return fail(stderr, err)
	}
	return 0
}
