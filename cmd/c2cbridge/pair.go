package main

// c2cbridge pair: pairs the host with the module (protocol sections 1, 2
// and 5a) and writes the key file.
//
// Every security command carries the te_secret and every pairing answer
// carries the key: neither the commands nor the answers' information lines
// ever reach an error message or the output. Only final result codes
// ("OK", "+CME ERROR: SEC busy") are quoted.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/c2cbridge/c2cbridge/at"
	"github.com/c2cbridge/c2cbridge/config"
	c2c "github.com/c2cbridge/c2cbridge/crypto"
	"github.com/c2cbridge/c2cbridge/modemside"
)

// Settings of c2cbridge pair.
const (
	// defaultPairRetries is how many times pair retries a security
	// command the module answers with "SEC busy".
	defaultPairRetries = 3
	// firstBusyBackoff is the wait before the first retry; it doubles
	// with every retry, up to maxBusyBackoff.
	firstBusyBackoff = time.Second
	maxBusyBackoff   = 30 * time.Second
	// drainQuiet is how long the line must stay quiet before pair sends
	// its first command; drainLimit bounds that wait.
	drainQuiet = 100 * time.Millisecond
	drainLimit = 2 * time.Second
	// backupTimeFormat is the UTC timestamp in the name of a replaced key
	// file's copy: FILE.bak-20261125T163000Z.
	backupTimeFormat = "20060102T150405Z"
	// maxBackups bounds the search for a free backup name (FILE.bak-TIME.N).
	maxBackups = 100
)

// Lines of the module's answers that pair looks at.
const (
	// notAllowedLine is the vendor's bare refusal of a pairing or an open.
	notAllowedLine = "NOT_ALLOWED"
	// securityInfo starts the information line of a security command.
	securityInfo = "+USECC2C:"
	// cmeNotAllowed is the numeric +CME ERROR (AT+CMEE=1) of
	// "operation not allowed".
	cmeNotAllowed = "3"
)

// Errors c2cbridge pair reports (wrapped); tests tell them apart with
// errors.Is.
var (
	errKeyFileExists = errors.New("already exists")
	errModuleBusy    = errors.New("module busy")
	errNotAllowed    = errors.New("refused by the module (NOT_ALLOWED)")
	errRefused       = errors.New("rejected by the module")
	errBadAnswer     = errors.New("unexpected answer from the module")
)

// secOp describes one security command for the error messages.
type secOp struct {
	name       string // "pairing (AT+USECC2C=0)": what failed
	notAllowed string // what a NOT_ALLOWED answer means
	refused    string // what another failure answer means
}

var (
	pairOp = secOp{
		name: "pairing (AT+USECC2C=0)",
		notAllowed: "the module is not claimed yet, or pairing is not allowed any more (after bootstrap): " +
			"claim the module in u-blox's security service and check that local C2C pairing is enabled for it",
		refused: "the module did not pair",
	}
	confirmOp = secOp{
		name:       "pairing confirmation (AT+USECC2C=4)",
		notAllowed: "the module holds no pairing waiting for a confirmation",
		refused:    "the confirmation does not match the pairing the module issued (pair again)",
	}
)

// pairer runs c2cbridge pair. Its fields are the command's dependencies,
// so that a test can replace them; newPairer fills in the real ones.
type pairer struct {
	stdout, stderr io.Writer
	// rand makes the te_secret and the IV of the confirmation.
	rand io.Reader
	// now dates the copy of a replaced key file.
	now func() time.Time
	// backoff is the wait before retry number retry (0 for the first)
	// of a command answered "SEC busy".
	backoff func(retry int) time.Duration
	// seal seals the V2 confirmation tag: c2c.SealConfirmation. Only the
	// test of a refused confirmation replaces it, to send a wrong tag.
	seal func(s *c2c.Secrets, tag *c2c.Secret, rand io.Reader) (string, error)
}

// newPairer returns a pairer that writes to stdout and stderr.
func newPairer(stdout, stderr io.Writer) *pairer {
	return &pairer{
		stdout:  stdout,
		stderr:  stderr,
		rand:    rand.Reader,
		now:     time.Now,
		backoff: busyBackoff,
		seal:    c2c.SealConfirmation,
	}
}

// busyBackoff waits 1 s before the first retry and doubles, up to 30 s.
func busyBackoff(retry int) time.Duration {
	return min(firstBusyBackoff<<min(retry, 16), maxBusyBackoff)
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
	retries := flags.Int("retries", defaultPairRetries, "retry up to `N` times while the module answers SEC busy")
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
	exists, err := fileExists(path)
	if err != nil {
		return fmt.Errorf("key file: %w", err)
	}
	if exists && !force {
		return fmt.Errorf("key file %s %w: it holds the secrets of a pairing, and pairing again would replace them: "+
			"check it with c2cbridge keys check, or pair with --force to replace it (a copy is kept as %s.bak-TIME); "+
			"the module was not asked", path, errKeyFileExists, path)
	}
	if err := checkWritable(path); err != nil {
		return err
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

// pairModule opens the UART, pairs and, for V2, confirms the pairing. It
// returns the new secrets; the caller zeroes them.
func (p *pairer) pairModule(ctx context.Context, cfg *config.Config, retries int) (*c2c.Secrets, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("interrupted: %w", err)
	}
	port, err := modemside.Open(modemside.Config{Device: cfg.Modem.Device, Baud: cfg.Modem.Baud,
		DataBits: cfg.Modem.DataBits, Parity: cfg.Modem.Parity, StopBits: cfg.Modem.StopBits,
		FlowControl: cfg.Modem.FlowControl})
	if err != nil {
		return nil, err
	}
	defer port.Close()
	// An interrupt closes the port, which ends a pending read at once.
	defer context.AfterFunc(ctx, func() { port.Close() })()

	if err := drainInput(port); err != nil {
		return nil, p.failure(ctx, fmt.Errorf("read from the module on %s: %w", cfg.Modem.Device, err))
	}
	t := modemside.NewTransactor(port)
	if _, err := t.Transact("AT+CMEE=2", cfg.Session.ProbeTimeout.D()); err != nil {
		return nil, p.failure(ctx, fmt.Errorf("the module on %s does not take AT commands in plain text: %w "+
			"(check modem.device and modem.baud; a module left in a secure session answers nothing in plain text until it is power-cycled)",
			cfg.Modem.Device, err))
	}

	s := &c2c.Secrets{}
	if _, err := io.ReadFull(p.rand, s.TESecret[:]); err != nil {
		return nil, fmt.Errorf("make the te_secret: %w", err)
	}
	timeout := cfg.Session.CommandTimeout.D()
	cmd := securityCommand(0, &s.TESecret, "")
	lines, err := p.security(ctx, port, t, pairOp, cmd, timeout, retries)
	clear(cmd)
	if err != nil {
		s.Zero()
		return nil, err
	}
	var tag c2c.Secret
	defer tag.Zero()
	if err := parsePairing(lines, s, &tag); err != nil {
		s.Zero()
		return nil, fmt.Errorf("%s: %w: the module may have paired, but its answer cannot be used: no key file was written; pair again", pairOp.name, err)
	}
	if s.Version() == c2c.V1 {
		return s, nil
	}

	sealed, err := p.seal(s, &tag, p.rand)
	if err != nil {
		s.Zero()
		return nil, fmt.Errorf("%s: %w", confirmOp.name, err)
	}
	cmd = securityCommand(4, &s.TESecret, sealed)
	_, err = p.security(ctx, port, t, confirmOp, cmd, timeout, retries)
	clear(cmd)
	if err != nil {
		s.Zero()
		return nil, err
	}
	return s, nil
}

// failure reports err, or that the command was interrupted if it was.
func (p *pairer) failure(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("interrupted: %w: no key file was written", ctx.Err())
	}
	return err
}

// security sends the security command cmd and returns the +USECC2C
// information lines of the answer. It retries "SEC busy" up to retries
// times. cmd carries the te_secret: no error quotes it.
func (p *pairer) security(ctx context.Context, port *modemside.Port, t *modemside.Transactor, op secOp,
	cmd []byte, timeout time.Duration, retries int) ([]string, error) {
	for attempt := 0; ; attempt++ {
		lines, final, err := exchange(port, t, cmd, timeout)
		switch {
		case err != nil && ctx.Err() != nil:
			return nil, fmt.Errorf("%s: interrupted (%w): the module may or may not have done it; no key file was written", op.name, ctx.Err())
		case errors.Is(err, at.ErrTimeout):
			return nil, fmt.Errorf("%s: %w within %v (session.command_timeout): the module may or may not have done it; no key file was written; "+
				"power-cycle the module and pair again", op.name, at.ErrTimeout, timeout)
		case err != nil:
			return nil, fmt.Errorf("%s: %w: no key file was written", op.name, err)
		}
		switch classifyFinal(final) {
		case finalOK:
			return lines, nil
		case finalBusy:
			if attempt < retries {
				wait := time.NewTimer(p.backoff(attempt))
				select {
				case <-wait.C:
					continue
				case <-ctx.Done():
					wait.Stop()
					return nil, fmt.Errorf("%s: interrupted while the module was busy: no key file was written", op.name)
				}
			}
			return nil, fmt.Errorf("%s: %w: the module answered %q %s (just powered on, or busy): "+
				"no key file was written; wait a minute and pair again, or raise --retries", op.name, errModuleBusy, final, times(attempt+1))
		case finalNotAllowed:
			return nil, fmt.Errorf("%s: %w: answer %q: %s; no key file was written", op.name, errNotAllowed, final, op.notAllowed)
		}
		return nil, fmt.Errorf("%s: %w: answer %q: %s; no key file was written", op.name, errRefused, final, op.refused)
	}
}

// exchange writes cmd and reads up to the final result code: an at.IsFinal
// line or a bare NOT_ALLOWED. It keeps only the +USECC2C: information
// lines (an echo of cmd is dropped) and returns them with the final line.
// Its errors never quote cmd.
func exchange(port *modemside.Port, t *modemside.Transactor, cmd []byte, timeout time.Duration) (lines []string, final string, err error) {
	if err := port.SetWriteDeadline(time.Now().Add(timeout)); err != nil {
		return nil, "", err
	}
	defer port.SetWriteDeadline(time.Time{})
	if _, err := port.Write(cmd); err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, "", fmt.Errorf("%w: the command could not be sent (is the module holding CTS low? check modem.flow_control)", at.ErrTimeout)
		}
		return nil, "", fmt.Errorf("send: %w", err)
	}
	_, err = t.WaitLine(func(line string) bool {
		if at.IsFinal(line) || line == notAllowedLine {
			final = line
			return true
		}
		if strings.HasPrefix(line, securityInfo) {
			lines = append(lines, line)
		}
		return false
	}, timeout)
	if err != nil {
		return nil, "", err
	}
	return lines, final, nil
}

// times returns "once" or "N times".
func times(n int) string {
	if n == 1 {
		return "once"
	}
	return strconv.Itoa(n) + " times"
}

// securityCommand returns AT+USECC2C=<op>,"<te_secret>"[,"<extra>"] and a
// CR, built in a byte slice the caller clears after sending.
func securityCommand(op int, te *c2c.Secret, extra string) []byte {
	cmd := make([]byte, 0, 64+len(extra))
	cmd = append(cmd, "AT+USECC2C="...)
	cmd = strconv.AppendInt(cmd, int64(op), 10)
	cmd = append(cmd, ',', '"')
	cmd = hex.AppendEncode(cmd, te[:])
	cmd = append(cmd, '"')
	if extra != "" {
		cmd = append(cmd, ',', '"')
		cmd = append(cmd, extra...)
		cmd = append(cmd, '"')
	}
	return append(cmd, '\r')
}

// finalKind classifies the final result of a security command.
type finalKind int

const (
	finalOK         finalKind = iota
	finalBusy                 // +CME ERROR: SEC busy: retry
	finalNotAllowed           // NOT_ALLOWED, bare or as a +CME ERROR
	finalError                // any other failure
)

// classifyFinal tells what a security command's final result line means
// (protocol section 5a).
func classifyFinal(line string) finalKind {
	if line == at.OK {
		return finalOK
	}
	if line == notAllowedLine {
		return finalNotAllowed
	}
	text, ok := strings.CutPrefix(line, at.CMEPrefix)
	if !ok {
		return finalError
	}
	text = strings.ToLower(strings.TrimSpace(text))
	switch {
	case strings.Contains(text, "busy"):
		return finalBusy
	case text == cmeNotAllowed, strings.Contains(text, "not allowed"), strings.Contains(text, "not_allowed"):
		return finalNotAllowed
	}
	return finalError
}

// parsePairing reads the key (and, for V2, the hmac_key and the
// confirmation tag) from the pairing answer
// +USECC2C: 0,0,"<key>"[,"<hmac_key>","<tag>"] into s and tag. An all-zero
// hmac_key means V1 (protocol section 1): tag is left zero then. The
// error never quotes the answer.
func parsePairing(lines []string, s *c2c.Secrets, tag *c2c.Secret) error {
	var fields []string
	for _, l := range lines {
		f := strings.Split(strings.TrimPrefix(l, securityInfo), ",")
		for i := range f {
			f[i] = strings.TrimSpace(f[i])
		}
		if len(f) >= 2 && f[0] == "0" {
			fields = f
			break
		}
	}
	const want = `want +USECC2C: 0,0,"<key>"[,"<hmac_key>","<tag>"]`
	switch {
	case fields == nil:
		return fmt.Errorf("%w: no +USECC2C: 0 line (%s)", errBadAnswer, want)
	case !isStatus(fields[1]):
		return fmt.Errorf("%w: (%s)", errBadAnswer, want)
	case fields[1] != "0":
		return fmt.Errorf("%w: pairing status %s, not 0 (success)", errRefused, fields[1])
	}
	values := fields[2:]
	dst := []*c2c.Secret{&s.Key, &s.HMACKey, tag}
	names := []string{"key", "hmac_key", "confirmation tag"}
	switch len(values) {
	case 1, 3:
	case 2:
		return fmt.Errorf("%w: an hmac_key but no confirmation tag (%s)", errBadAnswer, want)
	default:
		return fmt.Errorf("%w: %d values (%s)", errBadAnswer, len(values), want)
	}
	for i, v := range values {
		uq, ok := unquote(v)
		if !ok {
			return fmt.Errorf("%w: the %s is not quoted (%s)", errBadAnswer, names[i], want)
		}
		k, err := c2c.ParseSecret(uq)
		if err != nil {
			return fmt.Errorf("%w: the %s is %v", errBadAnswer, names[i], err)
		}
		*dst[i] = k
		k.Zero()
	}
	if s.HMACKey.IsZero() {
		tag.Zero()
	}
	return nil
}

// isStatus reports whether f is a small decimal number, safe to quote.
func isStatus(f string) bool {
	if f == "" || len(f) > 3 {
		return false
	}
	for _, c := range f {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// unquote removes the double quotes around v.
func unquote(v string) (string, bool) {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return "", false
	}
	return v[1 : len(v)-1], true
}

// drainInput drops what the module sent before pair spoke (a late answer,
// RDY, unsolicited lines) until the line has been quiet for drainQuiet, or
// for at most drainLimit.
func drainInput(port *modemside.Port) error {
	defer port.SetReadDeadline(time.Time{})
	buf := make([]byte, 512)
	end := time.Now().Add(drainLimit)
	for {
		deadline := time.Now().Add(drainQuiet)
		if deadline.After(end) {
			deadline = end
		}
		if err := port.SetReadDeadline(deadline); err != nil {
			return err
		}
		_, err := port.Read(buf)
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			return nil
		case err != nil:
			return err
		case !time.Now().Before(end):
			return nil
		}
	}
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

// checkWritable checks, before the module is asked, that a file can be
// created in the key file's directory: a pairing whose answer cannot be
// saved is lost.
func checkWritable(path string) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".check-*")
	if err != nil {
		return fmt.Errorf("key file %s cannot be written (%w): fix that first, the module was not asked", path, err)
	}
	f.Close()
	os.Remove(f.Name())
	return nil
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
