package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/c2cbridge/c2cbridge/bridge"
	"github.com/c2cbridge/c2cbridge/config"
	c2c "github.com/c2cbridge/c2cbridge/crypto"
	"github.com/c2cbridge/c2cbridge/modemside"
	"github.com/c2cbridge/c2cbridge/ptyside"
	"github.com/c2cbridge/c2cbridge/sdnotify"
	"github.com/c2cbridge/c2cbridge/status"
)

func cmdRun(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var path string
	fs.StringVar(&path, "config", "/etc/c2cbridge/config.yaml", "configuration `FILE`")
	fs.StringVar(&path, "c", "/etc/c2cbridge/config.yaml", "configuration `FILE` (short for --config)")
	trace := fs.Bool("trace", false, "log the plaintext AT lines each way (secrets redacted; as log.trace)")
	instance := fs.String("instance", "", "the instance `NAME` (c2cbridge@NAME.service): names the bridge in status, metrics and the journal")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "c2cbridge run: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *instance != "" {
		if err := status.CheckInstance(*instance); err != nil {
			return fail(stderr, fmt.Errorf("--instance %w", err))
		}
	}
	cfg, err := config.Load(path)
	if err != nil {
		return fail(stderr, err)
	}
	if *trace {
		cfg.Log.Trace = true
	}
	log, level := newInstanceLogger(stderr, cfg.Log.Level, cfg.Log.Format, *instance)
	ctx, stop := signalContext(log)
	defer stop()
	if err := runBridgeWith(ctx, cfg, log, runOptions{level: level, forceTrace: *trace, instance: *instance}); err != nil {
		return fail(stderr, err)
	}
	return 0
}

// signalContext returns a context cancelled by the first SIGTERM or SIGINT;
// a second one exits the process at once.
func signalContext(log *slog.Logger) (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		select {
		case s := <-ch:
			log.Info("shutting down: closing the secure session (send the signal again to exit at once)", "signal", s.String())
			cancel()
		case <-ctx.Done():
			return
		}
		select {
		case <-ch:
			log.Warn("second signal: exiting at once")
			os.Exit(1)
		case <-ctx.Done():
		}
	}()
	return ctx, func() { signal.Stop(ch); cancel() }
}

// runOptions are what runBridgeWith takes besides the configuration.
type runOptions struct {
	// onReady, if set, is called once the session is open and the
	// plaintext side (the pty and its link, or pty.device) is there.
	onReady func(ptyside.Device)
	// level, if set, is changed by SIGHUP to the re-read log.level.
	level *slog.LevelVar
	// forceTrace keeps the trace on across SIGHUP (--trace).
	forceTrace bool
	// instance is the instance name (--instance), "" for none.
	instance string
}

// runBridge opens both sides and runs the bridge until ctx ends. onReady,
// if set, is called once the session is open and the plaintext side is
// there.
func runBridge(ctx context.Context, cfg *config.Config, log *slog.Logger, onReady func(ptyside.Device)) error {
	return runBridgeWith(ctx, cfg, log, runOptions{onReady: onReady})
}

// runBridgeWith is runBridge with options; it also serves the status
// socket, speaks the systemd notify protocol and re-reads the
// configuration on SIGHUP.
func runBridgeWith(ctx context.Context, cfg *config.Config, log *slog.Logger, opts runOptions) error {
	onReady := opts.onReady
	notify := sdnotify.FromEnv()
	// Security commands may take 150 s, more than systemd's default start
	// timeout: ask for the time the start-up may need.
	budget := 2*cfg.Session.ProbeTimeout.D() + cfg.Session.OpenTimeout.D() + 30*time.Second
	notify.ExtendTimeout(budget)
	runCtx, cancel := context.WithCancel(context.Background())
	defer cancel() // ends the helper goroutine below
	if err := seedKeysFromCredentials(cfg, log); err != nil {
		return err
	}
	kf, err := config.ReadKeyFile(cfg.Keys.File)
	if err != nil {
		return err
	}
	// The bridge keeps its own copy of the secrets: these are wiped as
	// soon as it has been made.
	defer zeroKeyFile(kf)
	if err := checkKeyFile(kf); err != nil {
		return fmt.Errorf("key file %s: %w", cfg.Keys.File, err)
	}
	port, err := modemside.Open(cfg.Modem.Config)
	if err != nil {
		return err
	}
	detached := make(chan struct{}, 1)
	tty, err := openAppSide(cfg.PTY, log.With("side", "pty"), func(attached bool) {
		if !attached {
			select {
			case detached <- struct{}{}:
			default:
			}
		}
	})
	if err != nil {
		port.Close()
		return err
	}
	defer tty.Close()
	if port.IsPTY() && cfg.Modem.DCD {
		log.Warn("modem.dcd is set but the modem device is a pseudo-terminal, which has no DCD line: calls end only on the escape or a hang-up")
	}
	if port.IsPTY() && cfg.Modem.Pace == modemside.PaceAuto {
		log.Debug("the modem device is a pseudo-terminal: upstream frames are not paced (modem.pace: on paces them)")
	}
	var ready atomic.Bool
	heartbeat, heartbeatEvery := func() {}, time.Duration(0)
	if every, ok := notify.WatchdogInterval(); ok {
		// The engine calls this from its control loop and from every wait
		// it makes: it proves the daemon is alive, not that the module is
		// (that goes in STATUS=).
		heartbeat, heartbeatEvery = func() { notify.Watchdog() }, every
	}
	var b *bridge.Bridge
	b, err = bridge.New(bridge.Config{
		Secrets:  &kf.Secrets,
		Previous: kf.Previous,
		SaveSecrets: func(cur, prev *c2c.Secrets) error {
			return config.WriteKeyFile(cfg.Keys.File, &config.KeyFile{Secrets: *cur, Previous: prev})
		},
		CanSave:        func() error { return config.CheckKeyFileWritable(cfg.Keys.File) },
		Device:         cfg.Modem.Device,
		Baud:           cfg.Modem.Baud,
		PaceBaud:       cfg.Modem.PaceBaud(port.IsPTY()),
		ProbeTimeout:   cfg.Session.ProbeTimeout.D(),
		OpenTimeout:    cfg.Session.OpenTimeout.D(),
		CommandTimeout: cfg.Session.CommandTimeout.D(),
		MaxFrame:       int(cfg.Session.MaxFrame),
		EscapeGuard:    cfg.Modem.EscapeGuard,
		DCD:            cfg.Modem.DCD,
		Keepalive:      cfg.Session.Keepalive.D(),
		Dial: func(context.Context) (bridge.ModemConn, error) {
			return modemside.Open(cfg.Modem.Config)
		},
		RekeyInterval:     cfg.Session.RekeyInterval.D(),
		RekeyBytes:        int64(cfg.Session.RekeyBytes),
		Trace:             cfg.Log.Trace || opts.forceTrace,
		Logger:            log,
		Heartbeat:         heartbeat,
		HeartbeatInterval: heartbeatEvery,
		OnState: func(s bridge.State) {
			st := b.Stats()
			switch {
			case s == bridge.StateOpen && !ready.Swap(true):
				notify.Send("READY=1", "STATUS="+statusText(st))
			case (s == bridge.StateStarting || s == bridge.StateOpening) && !ready.Load():
				notify.ExtendTimeout(budget)
				notify.Status(statusText(st))
			case s == bridge.StateClosing:
				notify.Send("STOPPING=1", "STATUS="+statusText(st))
				notify.ExtendTimeout(30 * time.Second)
			default:
				notify.Status(statusText(st))
			}
			if s == bridge.StateOpen && onReady != nil {
				onReady(tty)
				onReady = nil
			}
		},
	}, tty, port)
	if err != nil {
		port.Close()
		return err
	}
	zeroKeyFile(kf)
	srv, err := status.Listen(status.SocketPath(cfg.Status.Socket), cfg.Status.Group,
		func() status.Snapshot {
			return snapshotFromBridge(b.Stats(), tty.Attached(), opts.instance, cfg.Modem.Device)
		})
	if err != nil {
		return fmt.Errorf("status socket: %w (set status.socket to a writable path)", err)
	}
	defer srv.Close()
	// The label bridge= is the instance name, else the modem device.
	defer startMetricsFile(cfg.Metrics,
		func() status.Snapshot {
			return snapshotFromBridge(b.Stats(), tty.Attached(), opts.instance, cfg.Modem.Device)
		}, log)()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-detached:
				b.AppDetached()
			case <-hup:
				reload(cfg, b, log, opts)
			case <-runCtx.Done():
				return
			}
		}
	}()
	if tty.Link() != "" {
		log.Info("virtual tty ready", "link", tty.Link(), "tty", tty.Path(), "status", srv.Path())
	} else {
		log.Info("virtual tty ready", "tty", tty.Path(), "status", srv.Path())
	}
	err = b.Run(ctx)
	notify.Stopping()
	return err
}

// openAppSide opens the plaintext side the pty: section names: the existing
// tty pty.device, or else a pseudo-terminal linked at pty.link. onAttach is
// the device's OnAttach.
func openAppSide(c config.PTY, log *slog.Logger, onAttach func(attached bool)) (ptyside.Device, error) {
	if c.Device != "" {
		t, err := ptyside.OpenDevice(ptyside.DeviceConfig{Path: c.Device, Logger: log, OnAttach: onAttach})
		if err != nil {
			return nil, fmt.Errorf("pty.device: %w", err)
		}
		return t, nil
	}
	p, err := ptyside.Open(ptyside.Config{Link: c.Link, Mode: c.Mode.Perm(), Group: c.Group, Logger: log, OnAttach: onAttach})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// reload re-reads the configuration on SIGHUP and applies what can change
// without a new session: log.level, log.trace and the rekey schedule. Other
// changes are reported as needing a restart.
func reload(cur *config.Config, b *bridge.Bridge, log *slog.Logger, opts runOptions) {
	if cur.Path == "" {
		log.Warn("SIGHUP: no configuration file to re-read")
		return
	}
	next, err := config.Load(cur.Path)
	if err != nil {
		log.Error("SIGHUP: the configuration was not reloaded", "err", err)
		return
	}
	if opts.level != nil {
		opts.level.Set(parseLevel(next.Log.Level))
	}
	b.SetTrace(next.Log.Trace || opts.forceTrace)
	b.SetRekeySchedule(next.Session.RekeyInterval.D(), int64(next.Session.RekeyBytes))
	var restart []string
	if next.Modem != cur.Modem {
		restart = append(restart, "modem")
	}
	if next.PTY != cur.PTY {
		restart = append(restart, "pty")
	}
	if next.Keys != cur.Keys {
		restart = append(restart, "keys")
	}
	if next.Status != cur.Status {
		restart = append(restart, "status")
	}
	s1, s2 := cur.Session, next.Session
	s1.RekeyInterval, s1.RekeyBytes, s2.RekeyInterval, s2.RekeyBytes = 0, 0, 0, 0
	if s1 != s2 {
		restart = append(restart, "session (except rekey_interval, rekey_bytes)")
	}
	if next.Log.Format != cur.Log.Format {
		restart = append(restart, "log.format")
	}
	if next.Metrics != cur.Metrics {
		restart = append(restart, "metrics")
	}
	log.Info("SIGHUP: configuration reloaded", "log_level", next.Log.Level, "trace", next.Log.Trace || opts.forceTrace,
		"rekey_interval", next.Session.RekeyInterval.String(), "rekey_bytes", int64(next.Session.RekeyBytes))
	if len(restart) > 0 {
		log.Warn("SIGHUP: these changes need a restart (systemctl restart c2cbridge)", "sections", restart)
	}
}
