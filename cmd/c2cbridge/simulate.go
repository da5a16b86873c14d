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
	"github.com/c2cbridge/c2cbridge/internal/unixgroup"
	"github.com/c2cbridge/c2cbridge/modemsim"
)

// unplugFor is how long SIGUSR2 keeps the simulated adapter away.
const unplugFor = time.Second

func cmdSimulate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("simulate", flag.ContinueOnError) // shadows io/fs below: use iofs
	fs.SetOutput(stderr)
	link := fs.String("link", "", "`PATH` to link the simulated UART at (required without --device)")
	device := fs.String("device", "", "serve this existing tty `PATH` (a USB gadget's /dev/ttyGS0) instead of a pty; reopened after a hang-up")
	dataPeer := fs.String("data-peer", "", "carry call data to a peer on a pty linked at `PATH` (a peer pppd plays the network) instead of looping it back")
	group := fs.String("group", "", "give the ptys this `GROUP` and mode 0660, as udev does a real UART (e.g. dialout)")
	keys := fs.String("keys", "", "key `FILE` of the pairing the module holds (YAML: te_secret, key, hmac_key)")
	v1 := fs.Bool("v1", false, "pair as a V1 module (no hmac_key)")
	v2 := fs.Bool("v2", false, "pair as a V2 module (the default)")
	echo := fs.Bool("echo", false, "start with echo on (ATE1)")
	v250 := fs.Bool("v250", false, "edit command lines as V.250 says (S5 deletes, control bytes and spaces dropped), accept ATS3/S4/S5, A/ and ATV0; with --echo a module as at power-up")
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
	case *link == "" && *device == "":
		fmt.Fprintln(stderr, "c2cbridge simulate: --link PATH is required (or --device PATH)")
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
	var ptyOpts modemsim.PTYOptions
	if *group != "" {
		gid, err := unixgroup.Lookup(*group)
		if err != nil {
			return fail(stderr, fmt.Errorf("--group: %w", err))
		}
		ptyOpts = modemsim.PTYOptions{Mode: 0o660, GID: gid}
	}
	cfg := modemsim.Config{Version: c2c.V2, Pairable: *pairable, Echo: *echo, Baud: *baud,
		Rekey: modemsim.RekeyMode(*rekey), Network: *dataPeer != "", Logger: log,
		LineEditing: *v250, SRegisters: *v250, RepeatLine: *v250, NumericResults: *v250}
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
	// unplug makes the adapter vanish for a while; a real tty cannot.
	var unplug func(time.Duration)
	where := *link
	if *device != "" {
		srv, err := modemsim.ServeDevice(ctx, mod, *device, *link)
		if err != nil {
			return fail(stderr, err)
		}
		defer srv.Close()
		where = *device
	} else {
		// As a real port: a program killed while it held the port
		// exclusively leaves it free for the next.
		opts := ptyOpts
		opts.ReleaseExclusive = true
		srv, err := modemsim.ServePTYOptions(ctx, mod, *link, opts)
		if err != nil {
			return fail(stderr, err)
		}
		defer srv.Close()
		unplug = srv.Unplug
	}
	if *dataPeer != "" {
		ps, err := modemsim.ServeDataPeer(ctx, mod, *dataPeer, ptyOpts)
		if err != nil {
			return fail(stderr, err)
		}
		defer ps.Close()
	}
	state := "unpaired"
	if cfg.Secrets != nil {
		state = "paired, " + cfg.Secrets.String()
	}
	calls := "calls loop data back"
	if *dataPeer != "" {
		calls = "calls go to the data peer at " + *dataPeer
	}
	usr2 := fmt.Sprintf("SIGUSR2 unplugs it for %v", unplugFor)
	if unplug == nil {
		usr2 = "SIGUSR2 does nothing on a device"
	}
	fmt.Fprintf(stdout, "simulated SARA-R5 on %s (%s; %s); SIGUSR1 reboots it, %s, SIGTERM stops it\n", where, state, calls, usr2)

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGUSR1, syscall.SIGUSR2)
	defer signal.Stop(sigs)
	for s := range sigs {
		switch s {
		case syscall.SIGUSR1:
			log.Info("rebooting the module (SIGUSR1)")
			mod.Reboot()
		case syscall.SIGUSR2:
			if unplug == nil {
				log.Warn("SIGUSR2: a device cannot be unplugged from here; unbind its gadget instead")
				continue
			}
			log.Info("unplugging the adapter (SIGUSR2)", "for", unplugFor)
			go unplug(unplugFor)
		default:
			log.Info("stopping", "signal", s.String())
			return 0
		}
	}
	return 0
}
