// Package sink is the far end of the throughput benchmark: a stand-in for
// the module, built on the C2C codec, that answers just enough AT to let a
// bridge open its session and place a data-mode call, then hashes every
// plaintext byte of the call.
//
// With Secrets, it plays a module behind c2cbridge (docs/protocol.md,
// "Security commands"):
//
//	AT\r                    -> \r\nOK\r\n             (plain)
//	AT+USECC2C=1,"<te>"\r   -> \r\nOK\r\n             (plain; framed from the next byte)
//	AT\r                    -> \r\nOK\r\n             (in a frame: the bridge's key check)
//	ATD...\r                -> \r\nCONNECT\r\n        (in a frame; data mode from the next byte)
//
// Without Secrets it plays the same dialogue in plain text, for the
// reference relay (socat), which does no start-up. In data mode it counts
// and hashes the first Want bytes after the ATD line; bytes beyond them are
// commands again, so that a bridge shutting down (+++, ATH, AT+USECC2C=2)
// is answered OK and leaves promptly. Other command lines answer OK, a
// wrong te_secret ERROR.
package sink

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	c2c "github.com/c2cbridge/c2cbridge/crypto"
)

// readSize is how much one read of the line asks for.
const readSize = 64 << 10

// maxLine bounds a command line; longer ones are dropped.
const maxLine = 4096

// Config configures a Sink.
type Config struct {
	// Secrets are the pairing the bridge uses; nil plays plain text only.
	Secrets *c2c.Secrets
	// Want is how many data-mode bytes make a complete transfer.
	Want int64
	// MaxFrame is the most plaintext the sink puts in one frame; 4096 when 0.
	MaxFrame int
}

// Result describes one transfer.
type Result struct {
	Bytes int64             // data bytes counted (Want once complete)
	Sum   [sha256.Size]byte // SHA-256 of those bytes
	First time.Time         // arrival of the first data byte
	Last  time.Time         // arrival of the Want-th data byte
	// FramesIn, Rejected and Stray count the bridge's frames opened,
	// frames dropped and bytes outside frames in the session.
	FramesIn, Rejected, Stray uint64
}

// Sink is one far end. Serve it on a line; Wait for the transfer.
type Sink struct {
	cfg Config

	// Owned by Serve.
	sealer  *c2c.Sealer
	opener  *c2c.Opener
	framed  bool
	data    bool
	line    []byte
	out     []byte
	sum     hash.Hash
	res     Result
	w       io.Writer
	werr    error
	pending []byte // the rest of a plain read after the open

	count    atomic.Int64 // data bytes counted so far, for Wait's error
	doneOnce sync.Once
	done     chan struct{}
	final    Result // set before done is closed
}

// New returns a Sink for cfg.
func New(cfg Config) (*Sink, error) {
	if cfg.Want <= 0 {
		return nil, errors.New("sink: Want must be positive")
	}
	if cfg.MaxFrame == 0 {
		cfg.MaxFrame = c2c.DefaultMaxPlaintext
	}
	s := &Sink{cfg: cfg, sum: sha256.New(), done: make(chan struct{})}
	if cfg.Secrets != nil {
		var err error
		if s.sealer, err = c2c.NewSealer(cfg.Secrets, rand.Reader, cfg.MaxFrame); err != nil {
			return nil, fmt.Errorf("sink: %w", err)
		}
		if s.opener, err = c2c.NewOpener(cfg.Secrets, c2c.MaxHostPlaintext); err != nil {
			return nil, fmt.Errorf("sink: %w", err)
		}
	}
	return s, nil
}

// Wait waits for the transfer to complete or ctx to end.
func (s *Sink) Wait(ctx context.Context) (Result, error) {
	select {
	case <-s.done:
		return s.final, nil
	case <-ctx.Done():
		return Result{Bytes: s.count.Load()}, fmt.Errorf("sink: %d of %d bytes: %w", s.count.Load(), s.cfg.Want, ctx.Err())
	}
}

// Serve reads rw until it fails (the error is returned; io.EOF and a
// closed line included) and answers on it. Run one Serve per Sink.
func (s *Sink) Serve(rw io.ReadWriter) error {
	s.w = rw
	buf := make([]byte, readSize)
	for {
		n, err := rw.Read(buf)
		if n > 0 {
			s.input(buf[:n], time.Now())
			if s.werr != nil {
				return fmt.Errorf("sink: write: %w", s.werr)
			}
		}
		if err != nil {
			return fmt.Errorf("sink: read: %w", err)
		}
	}
}

// input handles one read of the line.
func (s *Sink) input(p []byte, now time.Time) {
	if s.framed {
		s.opener.Feed(p, now, func(ev *c2c.Event) { s.event(ev, now) })
		return
	}
	s.plaintext(p, now)
	if rest := s.pending; rest != nil {
		// The open switched to frames inside this read.
		s.pending = nil
		s.opener.Feed(rest, now, func(ev *c2c.Event) { s.event(ev, now) })
	}
}

func (s *Sink) event(ev *c2c.Event, now time.Time) {
	switch ev.Kind {
	case c2c.Plaintext:
		s.res.FramesIn++
		s.plaintext(ev.Data, now)
	case c2c.Rejected:
		s.res.Rejected++
	case c2c.Stray:
		s.res.Stray += uint64(ev.Size)
	}
}

// plaintext handles bytes of the host's stream: data in a call, else
// command lines.
func (s *Sink) plaintext(p []byte, now time.Time) {
	for len(p) > 0 {
		if s.data {
			p = s.takeData(p, now)
			continue
		}
		i := bytes.IndexByte(p, '\r')
		if i < 0 {
			s.addLine(p)
			s.plusEscape()
			return
		}
		s.addLine(p[:i])
		p = p[i+1:]
		line := strings.TrimSpace(string(s.line))
		s.line = s.line[:0]
		if !s.framed && s.cfg.Secrets != nil && hasPrefixFold(line, "AT+USECC2C=1") {
			s.open(line)
			// Everything after the open's CR is framed.
			if len(p) > 0 {
				s.pending = append([]byte(nil), p...)
			}
			return
		}
		s.command(line)
	}
}

// addLine appends to the command line being typed, within maxLine.
func (s *Sink) addLine(p []byte) {
	for _, c := range p {
		if c == '\n' {
			continue
		}
		if len(s.line) < maxLine {
			s.line = append(s.line, c)
		}
	}
}

// plusEscape answers the "+++" escape a bridge sends (without CR) when it
// ends a call.
func (s *Sink) plusEscape() {
	if string(s.line) == "+++" {
		s.line = s.line[:0]
		s.reply("\r\nOK\r\n")
	}
}

// takeData counts and hashes call data; past Want, the rest is commands.
func (s *Sink) takeData(p []byte, now time.Time) []byte {
	if s.res.Bytes == 0 {
		s.res.First = now
	}
	n := int64(len(p))
	if rest := s.cfg.Want - s.res.Bytes; n > rest {
		n = rest
	}
	s.sum.Write(p[:n])
	s.res.Bytes += n
	s.count.Store(s.res.Bytes)
	if s.res.Bytes == s.cfg.Want {
		s.res.Last = now
		s.data = false
		s.finish()
	}
	return p[n:]
}

func (s *Sink) finish() {
	s.doneOnce.Do(func() {
		s.final = s.res
		copy(s.final.Sum[:], s.sum.Sum(nil))
		close(s.done)
	})
}

// open answers AT+USECC2C=1 in plain text and switches to frames.
func (s *Sink) open(line string) {
	want := `AT+USECC2C=1,"` + s.cfg.Secrets.TESecret.Hex() + `"`
	if !strings.EqualFold(line, want) {
		s.reply("\r\nERROR\r\n")
		return
	}
	s.reply("\r\nOK\r\n")
	s.framed = true
	s.opener.Reset()
}

// command answers one command line.
func (s *Sink) command(line string) {
	switch {
	case line == "":
	case hasPrefixFold(line, "ATD") && s.res.Bytes < s.cfg.Want:
		s.reply("\r\nCONNECT\r\n")
		s.data = true
	case s.framed && hasPrefixFold(line, "AT+USECC2C=2"):
		s.reply("\r\nOK\r\n")
		s.framed = false
	default:
		s.reply("\r\nOK\r\n")
	}
}

// reply sends text, in a frame in a session.
func (s *Sink) reply(text string) {
	if s.werr != nil {
		return
	}
	if s.framed {
		var err error
		if s.out, err = s.sealer.Seal(s.out[:0], []byte(text)); err != nil {
			s.werr = err
			return
		}
	} else {
		s.out = append(s.out[:0], text...)
	}
	if _, err := s.w.Write(s.out); err != nil {
		s.werr = err
	}
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}
