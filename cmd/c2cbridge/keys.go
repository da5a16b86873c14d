package main

// c2cbridge keys: commands about the key file.

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/c2cbridge/c2cbridge/config"
)

const keysUsage = `Usage:
  c2cbridge keys check --config FILE   check the key file keys.file names (-c FILE)

It prints the key file's version (V1 or V2), its path and the fingerprint
of its pairing, never the secrets.
`

// cmdKeys runs c2cbridge keys SUBCOMMAND.
func cmdKeys(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, keysUsage)
		return 2
	}
	switch args[0] {
	case "check":
		return keysCheck(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, keysUsage)
		return 0
	}
	fmt.Fprintf(stderr, "c2cbridge keys: unknown subcommand %q\n\n%s", args[0], keysUsage)
	return 2
}

// keysCheck runs c2cbridge keys check --config FILE.
func keysCheck(args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("keys check", flag.ContinueOnError)
	flags.SetOutput(stderr)
	var path string
	flags.StringVar(&path, "config", "/etc/c2cbridge/config.yaml", "configuration `FILE` (keys.file names the key file)")
	flags.StringVar(&path, "c", "/etc/c2cbridge/config.yaml", "configuration `FILE` (short for --config)")
	if err := flags.Parse(args); err != nil {
		return 2
	}
	if flags.NArg() > 0 {
		fmt.Fprintf(stderr, "c2cbridge keys check: unexpected argument %q\n", flags.Arg(0))
		return 2
	}
	cfg, err := config.Load(path)
	if err != nil {
		return fail(stderr, err)
	}
	kf, err := config.ReadKeyFile(cfg.Keys.File)
	if err != nil {
		return fail(stderr, err) // config hides the values YAML errors quote
	}
	defer zeroKeyFile(kf)
	if err := checkKeyFile(kf); err != nil {
		return fail(stderr, fmt.Errorf("key file %s: %w", cfg.Keys.File, err))
	}
	line := fmt.Sprintf("c2cbridge keys: key file %s: %v, fingerprint %s", cfg.Keys.File, kf.Secrets.Version(), kf.Secrets.Fingerprint())
	if kf.Previous != nil {
		line += fmt.Sprintf("; a rekey is not confirmed yet: the previous generation (fingerprint %s) is kept too", kf.Previous.Fingerprint())
	}
	fmt.Fprintln(stdout, line)
	return 0
}

// errNotPairing is wrapped when a key file parses but cannot hold a
// pairing's secrets.
var errNotPairing = errors.New("not the secrets of a pairing")

// checkKeyFile checks what config.ParseKeyFile leaves to its callers: no
// pairing has an all-zero te_secret or key, and the previous generation,
// if any, has the current one's version.
func checkKeyFile(kf *config.KeyFile) error {
	switch {
	case kf.Secrets.TESecret.IsZero():
		return fmt.Errorf("%w: te_secret is all zero", errNotPairing)
	case kf.Secrets.Key.IsZero():
		return fmt.Errorf("%w: key is all zero", errNotPairing)
	case kf.Previous == nil:
		return nil
	case kf.Previous.Key.IsZero():
		return fmt.Errorf("%w: previous.key is all zero", errNotPairing)
	case kf.Previous.Version() != kf.Secrets.Version():
		return fmt.Errorf("%w: the previous generation is %v but the current one is %v (hmac_key and previous.hmac_key must both be set, or both be absent)",
			errNotPairing, kf.Previous.Version(), kf.Secrets.Version())
	}
	return nil
}

// zeroKeyFile zeroes the secrets of kf (best effort, see c2c.Secrets.Zero).
func zeroKeyFile(kf *config.KeyFile) {
	kf.Secrets.Zero()
	if kf.Previous != nil {
		kf.Previous.Zero()
	}
}
