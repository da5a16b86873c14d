package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/c2cbridge/c2cbridge/config"
	c2c "github.com/c2cbridge/c2cbridge/crypto"
	"github.com/c2cbridge/c2cbridge/modemsim"
)

// unplugFor is how long SIGUSR2 keeps the simulated adapter away.
const unplugFor = time.Second

func cmdSimulate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("simulate", flag.ContinueOnError) // shadows io/fs below: use iofs
	fs.SetOutput(stderr)
	link := fs.String("link", "", "`PATH` to link the simulated UART at (required)")
	keys := fs.String("keys", "", "key `FILE` of the pairing the module holds (YAML: te_secret, key, hmac_key)")
	v1 := fs.Bool("v1", false, "pair as a V1 module (no hmac_key)")
	v2 := fs.Bool("v2", false, "pair as a V2 module (the default)")
	echo := fs.Bool("echo", false, "start with echo on (ATE1)")
	baud := fs.Int("baud", 0, "emulate a line of this bit rate in both directions (0: as fast as the pty)")
	rekey := fs.String("rekey", "same", "answer to AT+USECC2C=3: same (keep the secrets) or new (issue new ones)")
	pairable := fs.Bool("pairable", false, "accept AT+USECC2C=0 (pairing); without --keys the module starts unpaired")
	flip := fs.Float64("flip", 0, "flip a bit in this share of the bytes the module sends (e.g. 1e-4)")
	drop := fs.Float64("drop", 0, "drop this share of the bytes the module sends")
	verbose := fs.Bool("v", false, "log at debug level")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	switch {
	case *link == "":
		fmt.Fprintln(stderr, "c2cbridge simulate: --link PATH is required")
		return 2
	case *v1 && *v2:
		fmt.Fprintln(stderr, "c2cbridge simulate: --v1 and --v2 exclude each other")
		return 2
	case *rekey != "same" && *rekey != "new":
		fmt.Fprintf(stderr, "c2cbridge simulate: --rekey %q: use same or new\n", *rekey)
		return 2
	case *flip < 0 || *flip > 1 || *drop < 0 || *drop > 1:
		fmt.Fprintln(stderr, "c2cbridge simulate: --flip and --drop are shares between 0 and 1")
		return 2
	case *keys == "" && !*pairable:
		fmt.Fprintln(stderr, "c2cbridge simulate: give --keys FILE, or --pairable for an unpaired module")
		return 2
	}
	level := "info"
	if *verbose {
		level = "debug"
	}
	log := newLogger(stderr, level, "text")
	cfg := modemsim.Config{Version: c2c.V2, Pairable: *pairable, Echo: *echo, Baud: *baud,
		Rekey: modemsim.RekeyMode(*rekey), Logger: log}
	if *v1 {
		cfg.Version = c2c.V1
	}
	if *keys != "" {
		kf, err := config.ReadKeyFile(*keys)
		switch {
		case err == nil:
			cfg.Secrets = &kf.Secrets
			defer kf.Secrets.Zero()
		case *pairable && errors.Is(err, iofs.ErrNotExist):
			// Unpaired until a host pairs it.
		default:
			return fail(stderr, err)
		}
	}
	mod, err := modemsim.New(cfg)
	if err != nil {
		return fail(stderr, err)
	}
	defer mod.Close()
	mod.SetFaults(modemsim.Faults{FlipOut: *flip, DropOut: *drop})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv, err := modemsim.ServePTY(ctx, mod, *link)
	if err != nil {
		return fail(stderr, err)
	}
	defer srv.Close()
	state := "unpaired"
	if cfg.Secrets != nil {
		state = "paired, " + cfg.Secrets.String()
	}
	fmt.Fprintf(stdout, "simulated SARA-R5 on %s (%s); SIGUSR1 reboots it, SIGUSR2 unplugs it for %v, SIGTERM stops it\n", *link, state, unplugFor)

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGUSR1, syscall.SIGUSR2)
	defer signal.Stop(sigs)
	for s := range sigs {
		switch s {
		case syscall.SIGUSR1:
			log.Info("rebooting the module (SIGUSR1)")
			mod.Reboot()
		case syscall.SIGUSR2:
			log.Info("unplugging the adapter (SIGUSR2)", "for", unplugFor)
			go srv.Unplug(unplugFor)
		default:
			log.Info("stopping", "signal", s.String())
			return 0
		}
	}
	return 0
}
