package main

// c2cbridge pair: checks that the key file may be written, pairs the host
// with the module (the dialogue is package pairing's) and writes the key
// file.
//
// Every security command carries the te_secret and every pairing answer
// carries the key: neither the commands nor the answers' information lines
// ever reach an error message or the output. Only final result codes
// ("OK", "+CME ERROR: SEC busy") are quoted.

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/c2cbridge/c2cbridge/config"
	c2c "github.com/c2cbridge/c2cbridge/crypto"
	"github.com/c2cbridge/c2cbridge/modemside"
	"github.com/c2cbridge/c2cbridge/pairing"
)

// Settings of c2cbridge pair.
const (
	// backupTimeFormat is the UTC timestamp in the name of a replaced key
	// file's copy: FILE.bak-20261125T163000Z.
	backupTimeFormat = "20060102T150405Z"
	// maxBackups bounds the search for a free backup name (FILE.bak-TIME.N).
	maxBackups = 100
)

// errKeyFileExists is returned (wrapped) when the key file exists and
// --force was not given.
var errKeyFileExists = errors.New("already exists")

// pairer runs c2cbridge pair. Its fields are the command's dependencies,
// so that a test can replace them; newPairer fills in the real ones.
type pairer struct {
	stdout, stderr io.Writer
	// rand makes the te_secret and the IV of the confirmation.
	rand io.Reader
	// now dates the copy of a replaced key file.
	now func() time.Time
	// backoff is the wait before retry number retry (0 for the first)
	// of a command answered "SEC busy": pairing.BusyBackoff.
	backoff func(retry int) time.Duration
	// seal seals the V2 confirmation tag: c2c.SealConfirmation. Tests
	// replace it to send a wrong tag, or to act between the pairing and
	// its confirmation.
	seal func(s *c2c.Secrets, tag *c2c.Secret, rand io.Reader) (string, error)
}

// newPairer returns a pairer that writes to stdout and stderr.
func newPairer(stdout, stderr io.Writer) *pairer {
	return &pairer{
		stdout:  stdout,
		stderr:  stderr,
		rand:    rand.Reader,
		now:     time.Now,
		backoff: pairing.BusyBackoff,
		seal:    c2c.SealConfirmation,
	}
}

// cmdPair runs c2cbridge pair --config FILE [--force] [--retries N].
func cmdPair(args []string, stdout, stderr io.Writer) int {
	return newPairer(stdout, stderr).main(args)
}

// main parses the command line, pairs and returns the exit status.
func (p *pairer) main(args []string) int {
	flags := flag.NewFlagSet("pair", flag.ContinueOnError)
	flags.SetOutput(p.stderr)
	var path string
	flags.StringVar(&path, "config", "/etc/c2cbridge/config.yaml", "configuration `FILE` (modem section and keys.file)")
	flags.StringVar(&path, "c", "/etc/c2cbridge/config.yaml", "configuration `FILE` (short for --config)")
	force := flags.Bool("force", false, "replace an existing key file (a copy of it is kept as FILE.bak-TIME)")
	retries := flags.Int("retries", pairing.DefaultRetries, "retry up to `N` times while the module answers SEC busy")
	if err := flags.Parse(args); err != nil {
		return 2
	}
	if flags.NArg() > 0 {
		fmt.Fprintf(p.stderr, "c2cbridge pair: unexpected argument %q\n", flags.Arg(0))
		return 2
	}
	if *retries < 0 {
		fmt.Fprintf(p.stderr, "c2cbridge pair: --retries %d: give 0 or more\n", *retries)
		return 2
	}
	cfg, err := config.Load(path)
	if err != nil {
		return fail(p.stderr, err)
	}
	// The first SIGINT or SIGTERM stops waiting for the module; once the
	// handler is gone, a second one ends the process at once.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	context.AfterFunc(ctx, stop)
	if err := p.pair(ctx, cfg, *force, *retries); err != nil {
		return fail(p.stderr, err)
	}
	return 0
}

// pair checks that the key file may be written, pairs with the module and
// writes the key file. ctx ends the wait for the module, but not a
// pairing the module has already answered.
func (p *pairer) pair(ctx context.Context, cfg *config.Config, force bool, retries int) error {
	path := cfg.Keys.File
	// A new instance's key file directory (StateDirectory=c2cbridge/%i)
	// exists only after the service's first start, which waits for the
	// key file: make it, private, as the package makes /var/lib/c2cbridge
	// (the first start hands it to the service's user).
	if err := makeKeyFileDir(path); err != nil {
		return fmt.Errorf("%w: fix that first, the module was not asked", err)
	}
	exists, err := fileExists(path)
	if err != nil {
		return fmt.Errorf("key file: %w", err)
	}
	if exists && !force {
		return fmt.Errorf("key file %s %w: it holds the secrets of a pairing, and pairing again would replace them: "+
			"check it with c2cbridge keys check, or pair with --force to replace it (a copy is kept as %s.bak-TIME); "+
			"the module was not asked", path, errKeyFileExists, path)
	}
	// A pairing whose answer cannot be saved is lost: check first.
	if err := config.CheckKeyFileWritable(path); err != nil {
		return fmt.Errorf("%w: fix that first, the module was not asked", err)
	}
	if exists {
		bak, err := backupKeyFile(path, p.now())
		if err != nil {
			return err
		}
		fmt.Fprintf(p.stdout, "c2cbridge pair: copied the old key file to %s\n", bak)
	}

	s, err := p.pairModule(ctx, cfg, retries)
	if err != nil {
		return err
	}
	defer s.Zero()
	kf := &config.KeyFile{Secrets: *s}
	defer kf.Secrets.Zero()
	if err := config.WriteKeyFile(path, kf); err != nil {
		return fmt.Errorf("the module paired (%v) but the key file could not be written: %w: "+
			"the new secrets are lost (they are printed nowhere): fix the problem and pair the module again "+
			"(with --force if %s exists)", s, err, path)
	}
	fmt.Fprintf(p.stdout, "c2cbridge pair: paired %v: key file %s, fingerprint %s\n", s.Version(), path, s.Fingerprint())
	return nil
}

// pairModule opens the UART and runs the pairing dialogue on it. It
// returns the new secrets; the caller zeroes them.
func (p *pairer) pairModule(ctx context.Context, cfg *config.Config, retries int) (*c2c.Secrets, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("interrupted: %w", err)
	}
	port, err := modemside.Open(cfg.Modem.Config)
	if err != nil {
		return nil, err
	}
	defer port.Close()
	// An interrupt closes the port, which ends a pending read at once.
	defer context.AfterFunc(ctx, func() { port.Close() })()

	return pairing.Pair(ctx, port, pairing.Config{
		Device:         cfg.Modem.Device,
		ProbeTimeout:   cfg.Session.ProbeTimeout.D(),
		CommandTimeout: cfg.Session.CommandTimeout.D(),
		Retries:        retries,
		Rand:           p.rand,
		Backoff:        p.backoff,
		Seal:           p.seal,
	})
}

// fileExists reports whether path exists (a dangling link counts).
func fileExists(path string) (bool, error) {
	_, err := os.Lstat(path)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	}
	return false, err
}

// backupKeyFile copies the key file at path, byte for byte and mode 0600,
// to path.bak-<UTC time> (with .N appended if that exists) and returns the
// copy's path.
func backupKeyFile(path string, now time.Time) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("keep a copy of the old key file: %w: the module was not asked", err)
	}
	defer clear(data)
	base := path + ".bak-" + now.UTC().Format(backupTimeFormat)
	bak := base
	for i := 1; ; i++ {
		exists, err := fileExists(bak)
		if err != nil {
			return "", fmt.Errorf("keep a copy of the old key file: %w: the module was not asked", err)
		}
		if !exists {
			break
		}
		if i > maxBackups {
			return "", fmt.Errorf("keep a copy of the old key file: %s and %d more copies exist: the module was not asked", base, maxBackups)
		}
		bak = base + "." + strconv.Itoa(i)
	}
	if err := config.WriteFileAtomic(bak, data, config.KeyFileMode); err != nil {
		return "", fmt.Errorf("keep a copy of the old key file: %w: the module was not asked", err)
	}
	return bak, nil
}

// keyFileDirMode is the mode of a key file directory pair makes.
const keyFileDirMode = 0o700

// makeKeyFileDir makes the directory of the key file path, and its
// missing parents, mode 0700, if it does not exist.
func makeKeyFileDir(path string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, keyFileDirMode); err != nil {
		return fmt.Errorf("key file %s cannot be written: make its directory: %w", path, err)
	}
	return nil
}
