package crypto

import (
	"fmt"
	"io"
	"slices"
)

// ivBatch is how many IVs a Sealer reads from its random source at once, so
// that a frame does not cost a system call.
const ivBatch = 64

// A Sealer turns plaintext into frames. It is not safe for concurrent use:
// give each upstream writer its own.
type Sealer struct {
	c        *codec
	rand     io.Reader
	maxPlain int
	ivs      [ivBatch * IVSize]byte
	ivN      int // valid bytes in ivs
	ivOff    int // next unused byte in ivs
	iv       [IVSize]byte
}

// NewSealer returns a Sealer for s that puts at most maxPlaintext bytes in
// one frame (MaxHostPlaintext for the host; the module side may use more).
// rand supplies a fresh IV for every frame: crypto/rand.Reader in
// production, a fixed reader in known-answer tests.
func NewSealer(s *Secrets, rand io.Reader, maxPlaintext int) (*Sealer, error) {
	if maxPlaintext < 1 || BodyLen(s.Version(), maxPlaintext) > maxLEN {
		return nil, fmt.Errorf("new sealer: maximum plaintext %d out of range", maxPlaintext)
	}
	if rand == nil {
		return nil, fmt.Errorf("new sealer: no random source")
	}
	c, err := newCodec(s)
	if err != nil {
		return nil, fmt.Errorf("new sealer: %w", err)
	}
	return &Sealer{c: c, rand: rand, maxPlain: maxPlaintext}, nil
}

// MaxPlaintext returns the most plaintext the Sealer puts in one frame.
func (s *Sealer) MaxPlaintext() int { return s.maxPlain }

// Seal appends to dst the frames carrying p, split into frames of at most
// MaxPlaintext bytes, and returns the extended buffer. An empty p gives no
// frame. The only possible error is a failing random source; dst is then
// returned as it was.
func (s *Sealer) Seal(dst, p []byte) ([]byte, error) {
	orig := len(dst)
	for len(p) > 0 {
		n := min(len(p), s.maxPlain)
		var err error
		if dst, err = s.SealFrame(dst, p[:n]); err != nil {
			return dst[:orig], err
		}
		p = p[n:]
	}
	return dst, nil
}

// SealedLen returns how many bytes Seal appends for n plaintext bytes.
func (s *Sealer) SealedLen(n int) int {
	full, rest := n/s.maxPlain, n%s.maxPlain
	size := full * FrameLen(s.c.version, s.maxPlain)
	if rest > 0 {
		size += FrameLen(s.c.version, rest)
	}
	return size
}

// SealFrame appends exactly one frame carrying p (which may be empty) to dst.
func (s *Sealer) SealFrame(dst, p []byte) ([]byte, error) {
	if len(p) > s.maxPlain {
		return dst, fmt.Errorf("seal: %d bytes: %w (maximum %d)", len(p), ErrTooLarge, s.maxPlain)
	}
	if err := s.nextIV(); err != nil {
		return dst, err
	}
	bodyLen := s.c.bodyLen(len(p))
	start := len(dst)
	dst = slices.Grow(dst, FrameOverhead+bodyLen)[:start+FrameOverhead+bodyLen]
	frame := dst[start:]
	s.c.sealBody(frame[HeaderSize:HeaderSize+bodyLen], p, &s.iv)
	putFrame(frame)
	return dst, nil
}

// nextIV takes the next fresh IV from the batch, refilling it as needed.
func (s *Sealer) nextIV() error {
	if s.ivN-s.ivOff < IVSize {
		n, err := io.ReadAtLeast(s.rand, s.ivs[:], IVSize)
		if err != nil {
			return fmt.Errorf("seal: random IV: %w", err)
		}
		s.ivN, s.ivOff = n-n%IVSize, 0
	}
	copy(s.iv[:], s.ivs[s.ivOff:s.ivOff+IVSize])
	clear(s.ivs[s.ivOff : s.ivOff+IVSize])
	s.ivOff += IVSize
	return nil
}

// Zero wipes the Sealer's copy of te_secret (best effort; see Secrets.Zero).
// The Sealer must not be used afterwards.
func (s *Sealer) Zero() { s.c.zero() }
