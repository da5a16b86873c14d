// Package pairing runs the pairing dialogue of the C2C protocol with a
// module that still speaks plain text, and returns the secrets it issues
// (docs/protocol.md, "Security commands" and "Errors and timeouts").
//
// The dialogue is:
//
//  1. drop what the module sent before (a late answer, RDY, unsolicited
//     lines) until the line is quiet;
//  2. AT+CMEE=2, so that "SEC busy" and refusals come as text;
//  3. AT+USECC2C=0 with a fresh te_secret; the module answers with the key
//     (and, for V2, the hmac_key and a confirmation tag). A module that is
//     busy just after power-on answers "+CME ERROR: SEC busy": the command
//     is sent again after a backoff, a given number of times;
//  4. for V2, AT+USECC2C=4 with the confirmation tag sealed with the new
//     secrets, with the same retries.
//
// The commands, the answers and the results are package usec's; this
// package holds the order, the retries and what a failure means. It does
// no I/O of its own: it talks through a Conn (a modemside.Port, or a pipe
// in tests). Its error messages are written for c2cbridge pair, which
// prints them as they are; they never quote a command or an answer's
// information line, only final result codes.
package pairing

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/c2cbridge/c2cbridge/at"
	c2c "github.com/c2cbridge/c2cbridge/crypto"
	"github.com/c2cbridge/c2cbridge/modemside"
	"github.com/c2cbridge/c2cbridge/usec"
)

// Settings of the dialogue.
const (
	// DefaultRetries is how many times c2cbridge pair retries a security
	// command the module answers with "SEC busy".
	DefaultRetries = 3
	// firstBusyBackoff is the wait before the first retry; it doubles
	// with every retry, up to maxBusyBackoff.
	firstBusyBackoff = time.Second
	maxBusyBackoff   = 30 * time.Second
	// drainQuiet is how long the line must stay quiet before the first
	// command; drainLimit bounds that wait.
	drainQuiet = 100 * time.Millisecond
	drainLimit = 2 * time.Second
	// drainChunk is how much one read of the drain takes.
	drainChunk = 512
)

// Conn is the module's line: it reads and writes with deadlines. A
// *modemside.Port is one, and so is a net.Conn.
type Conn interface {
	modemside.DeadlineReadWriter
	SetWriteDeadline(t time.Time) error
}

// Config is what a pairing needs besides the line. Zero Rand, Backoff and
// Seal stand for the real ones.
type Config struct {
	// Device is the module's device, named in error messages.
	Device string
	// ProbeTimeout bounds the answer to AT+CMEE=2 (session.probe_timeout).
	ProbeTimeout time.Duration
	// CommandTimeout bounds the answer to each security command
	// (session.command_timeout).
	CommandTimeout time.Duration
	// Retries is how many times a command answered "SEC busy" is sent
	// again; 0 sends it once.
	Retries int
	// Rand makes the te_secret and the IV of the confirmation; nil means
	// crypto/rand.
	Rand io.Reader
	// Backoff returns the wait before retry number retry (0 for the
	// first) of a command answered "SEC busy"; nil means BusyBackoff.
	Backoff func(retry int) time.Duration
	// Seal seals the V2 confirmation tag; nil means
	// crypto.SealConfirmation. Tests replace it to send a wrong tag.
	Seal func(s *c2c.Secrets, tag *c2c.Secret, rand io.Reader) (string, error)
}

// BusyBackoff waits 1 s before the first retry and doubles, up to 30 s.
func BusyBackoff(retry int) time.Duration {
	return min(firstBusyBackoff<<min(retry, 16), maxBusyBackoff)
}

// failures says, for each security command of the dialogue, what a
// refusal means.
var failures = map[usec.Op]struct {
	notAllowed string // what a NOT_ALLOWED answer means
	refused    string // what another failure answer means
}{
	usec.OpPair: {
		notAllowed: "the module is not claimed yet, or pairing is not allowed any more (after bootstrap): " +
			"claim the module in u-blox's security service and check that local C2C pairing is enabled for it",
		refused: "the module did not pair",
	},
	usec.OpConfirm: {
		notAllowed: "the module holds no pairing waiting for a confirmation",
		refused:    "the confirmation does not match the pairing the module issued (pair again)",
	},
}

// Pair pairs the module on conn with the host: it runs the dialogue in the
// package doc and returns the new secrets, which the caller zeroes.
//
// When ctx ends Pair stops waiting between retries and reports the
// interruption; to end a read in progress at once, the caller closes conn
// when ctx ends (Pair never closes it). Errors wrap usec.ErrBusy,
// usec.ErrNotAllowed, usec.ErrRefused, usec.ErrBadAnswer or
// at.ErrTimeout where those apply.
func Pair(ctx context.Context, conn Conn, cfg Config) (*c2c.Secrets, error) {
	d := &dialogue{Config: cfg, ctx: ctx, conn: conn, t: modemside.NewTransactor(conn)}
	if d.Rand == nil {
		d.Rand = rand.Reader
	}
	if d.Backoff == nil {
		d.Backoff = BusyBackoff
	}
	if d.Seal == nil {
		d.Seal = c2c.SealConfirmation
	}
	return d.pair()
}

// dialogue is one run of Pair.
type dialogue struct {
	Config
	ctx  context.Context
	conn Conn
	t    *modemside.Transactor
}

// pair runs the dialogue.
func (d *dialogue) pair() (*c2c.Secrets, error) {
	if err := d.drain(); err != nil {
		return nil, d.failure(fmt.Errorf("read from the module on %s: %w", d.Device, err))
	}
	if _, err := d.t.Transact("AT+CMEE=2", d.ProbeTimeout); err != nil {
		return nil, d.failure(fmt.Errorf("the module on %s does not take AT commands in plain text: %w "+
			"(check modem.device and modem.baud; a module left in a secure session answers nothing in plain text until it is power-cycled)",
			d.Device, err))
	}

	var te c2c.Secret
	defer te.Zero()
	if _, err := io.ReadFull(d.Rand, te[:]); err != nil {
		return nil, fmt.Errorf("make the te_secret: %w", err)
	}
	cmd := usec.PairCommand(&te)
	lines, err := d.security(usec.OpPair, cmd)
	usec.Wipe(cmd)
	if err != nil {
		return nil, err
	}
	answer, _ := usec.FindAnswer(usec.OpPair, lines)
	s, tag, err := usec.ParsePairingAnswer(answer, &te)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: the module may have paired, but its answer cannot be used: no key file was written; pair again", name(usec.OpPair), err)
	}
	defer tag.Zero()
	if s.Version() == c2c.V1 {
		return s, nil
	}

	sealed, err := d.Seal(s, tag, d.Rand)
	if err != nil {
		s.Zero()
		return nil, fmt.Errorf("%s: %w", name(usec.OpConfirm), err)
	}
	cmd = usec.ConfirmCommand(&s.TESecret, sealed)
	_, err = d.security(usec.OpConfirm, cmd)
	usec.Wipe(cmd)
	if err != nil {
		s.Zero()
		return nil, err
	}
	return s, nil
}

// name names a security command in messages: "pairing (AT+USECC2C=0)".
func name(op usec.Op) string {
	return fmt.Sprintf("%v (%s%d)", op, usec.CommandPrefix, int(op))
}

// failure reports err, or that the dialogue was interrupted if it was.
func (d *dialogue) failure(err error) error {
	if d.ctx.Err() != nil {
		return fmt.Errorf("interrupted: %w: no key file was written", d.ctx.Err())
	}
	return err
}

// security sends the security command cmd (built by package usec, without
// its CR) and returns the +USECC2C information lines of the answer. It
// retries "SEC busy" up to d.Retries times. cmd carries the te_secret: no
// error quotes it; the caller wipes it.
func (d *dialogue) security(op usec.Op, cmd []byte) ([]string, error) {
	line := append(cmd, '\r') // in cmd's spare byte: wiped with it
	for attempt := 0; ; attempt++ {
		lines, final, err := d.exchange(line)
		switch {
		case err != nil && d.ctx.Err() != nil:
			return nil, fmt.Errorf("%s: interrupted (%w): the module may or may not have done it; no key file was written", name(op), d.ctx.Err())
		case errors.Is(err, at.ErrTimeout):
			return nil, fmt.Errorf("%s: %w within %v (session.command_timeout): the module may or may not have done it; no key file was written; "+
				"power-cycle the module and pair again", name(op), at.ErrTimeout, d.CommandTimeout)
		case err != nil:
			return nil, fmt.Errorf("%s: %w: no key file was written", name(op), err)
		}
		switch usec.Classify(final) {
		case usec.ResultOK:
			return lines, nil
		case usec.ResultBusy:
			if attempt < d.Retries {
				wait := time.NewTimer(d.Backoff(attempt))
				select {
				case <-wait.C:
					continue
				case <-d.ctx.Done():
					wait.Stop()
					return nil, fmt.Errorf("%s: interrupted while the module was busy: no key file was written", name(op))
				}
			}
			return nil, fmt.Errorf("%s: %w: the module answered %q %s (just powered on, or busy): "+
				"no key file was written; wait a minute and pair again, or raise --retries", name(op), usec.ErrBusy, final, times(attempt+1))
		case usec.ResultNotAllowed:
			return nil, fmt.Errorf("%s: %w: answer %q: %s; no key file was written", name(op), usec.ErrNotAllowed, final, failures[op].notAllowed)
		}
		return nil, fmt.Errorf("%s: %w: answer %q: %s; no key file was written", name(op), usec.ErrRefused, final, failures[op].refused)
	}
}

// exchange writes line and reads up to the final result code (usec.IsFinal).
// It keeps only the +USECC2C: information lines (an echo of the command is
// dropped) and returns them with the final line. Its errors never quote
// line.
func (d *dialogue) exchange(line []byte) (lines []string, final string, err error) {
	if err := d.conn.SetWriteDeadline(time.Now().Add(d.CommandTimeout)); err != nil {
		return nil, "", err
	}
	defer d.conn.SetWriteDeadline(time.Time{})
	if _, err := d.conn.Write(line); err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, "", fmt.Errorf("%w: the command could not be sent (is the module holding CTS low? check modem.flow_control)", at.ErrTimeout)
		}
		return nil, "", fmt.Errorf("send: %w", err)
	}
	_, err = d.t.WaitLine(func(l string) bool {
		if usec.IsFinal(l) {
			final = l
			return true
		}
		if usec.IsAnswer(l) {
			lines = append(lines, l)
		}
		return false
	}, d.CommandTimeout)
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

// drain drops what the module sent before the dialogue began until the
// line has been quiet for drainQuiet, or for at most drainLimit.
func (d *dialogue) drain() error {
	defer d.conn.SetReadDeadline(time.Time{})
	buf := make([]byte, drainChunk)
	end := time.Now().Add(drainLimit)
	for {
		deadline := time.Now().Add(drainQuiet)
		if deadline.After(end) {
			deadline = end
		}
		if err := d.conn.SetReadDeadline(deadline); err != nil {
			return err
		}
		_, err := d.conn.Read(buf)
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
