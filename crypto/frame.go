package crypto

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
)

// Sizes of the frame format (docs/protocol.md, "Frame format" and "Sizes").
const (
	// Flag opens and closes every frame.
	Flag byte = 0xF9
	// BlockSize is the AES block size; padding is to a multiple of it.
	BlockSize = aes.BlockSize
	// IVSize is the size of the CBC initialisation vector in every body.
	IVSize = BlockSize
	// LenSize is the size of the little-endian LEN field.
	LenSize = 2
	// FCSSize is the size of the little-endian frame check sequence.
	FCSSize = 2
	// HeaderSize is the opening flag and LEN.
	HeaderSize = 1 + LenSize
	// TrailerSize is the FCS and the closing flag.
	TrailerSize = FCSSize + 1
	// FrameOverhead is what a frame adds around its body.
	FrameOverhead = HeaderSize + TrailerSize
	// MACSize is the truncated HMAC-SHA-256 at the end of a V2 body.
	MACSize = 16
	// DigestSize is the SHA-256 of the padded plaintext inside a V1 body.
	DigestSize = sha256.Size
	// bodyExtraV2 is what a V2 body holds besides the padded plaintext.
	bodyExtraV2 = IVSize + MACSize
	// bodyExtraV1 is what a V1 body holds besides the padded plaintext.
	bodyExtraV1 = DigestSize + IVSize
	// MinBodyV2 is the smallest V2 LEN: an empty plaintext pads to a block.
	MinBodyV2 = bodyExtraV2 + BlockSize
	// MinBodyV1 is the smallest V1 LEN.
	MinBodyV1 = bodyExtraV1 + BlockSize
	// MaxHostPlaintext is the most plaintext one host frame may carry: the
	// module accepts at most 256 padded bytes from the host.
	MaxHostPlaintext = 255
	// DefaultMaxPlaintext is the default largest plaintext accepted in one
	// module frame (session.max_frame).
	DefaultMaxPlaintext = 4096
	// maxLEN is what the 16-bit LEN field can say.
	maxLEN = 1<<16 - 1
	// maxPlaintextV2 is the largest plaintext whose V2 body fits maxLEN:
	// the largest multiple of BlockSize that fits, less the one byte of
	// padding every plaintext gets.
	maxPlaintextV2 = (maxLEN-bodyExtraV2)/BlockSize*BlockSize - 1
	// maxPlaintextV1 is the same for a V1 body.
	maxPlaintextV1 = (maxLEN-bodyExtraV1)/BlockSize*BlockSize - 1
	// MaxPlaintextLimit is the largest plaintext one frame of either
	// version can carry: the most a maximum plaintext (session.max_frame,
	// NewSealer, NewOpener) may be. It is 65471, set by V1.
	MaxPlaintextLimit = min(maxPlaintextV1, maxPlaintextV2)
)

// PaddedLen returns the length of n plaintext bytes after RFC 5652 padding:
// the next multiple of BlockSize, a whole block more when n is one already.
func PaddedLen(n int) int { return (n/BlockSize + 1) * BlockSize }

// BodyLen returns the LEN of a frame carrying n plaintext bytes.
func BodyLen(v Version, n int) int {
	if v == V1 {
		return PaddedLen(n) + bodyExtraV1
	}
	return PaddedLen(n) + bodyExtraV2
}

// FrameLen returns the bytes on the line of a frame carrying n plaintext
// bytes: 54 for a 12-byte plaintext in V2, 70 in V1.
func FrameLen(v Version, n int) int { return BodyLen(v, n) + FrameOverhead }

// Errors of a rejected frame. Every rejection the Opener reports wraps one
// of them, so callers tell the causes apart with errors.Is.
var (
	ErrLength   = errors.New("frame length out of bounds")
	ErrFCS      = errors.New("frame check sequence mismatch")
	ErrNoFlag   = errors.New("closing flag missing")
	ErrMAC      = errors.New("authentication failed")
	ErrPadding  = errors.New("bad padding")
	ErrStalled  = errors.New("incomplete frame stalled")
	ErrTooLarge = errors.New("plaintext too large for one frame")
)

// ivSetter is implemented by the CBC modes of crypto/cipher; it lets one
// BlockMode serve every frame without an allocation.
type ivSetter interface{ SetIV([]byte) }

// codec holds what sealing and opening a body need. It is not safe for
// concurrent use.
type codec struct {
	version Version
	te      Secret
	enc     cipher.BlockMode
	dec     cipher.BlockMode
	mac     hash.Hash
	sum     [sha256.Size]byte
	zeroIV  [IVSize]byte
}

func newCodec(s *Secrets) (*codec, error) {
	if s == nil {
		return nil, errors.New("no secrets")
	}
	block, err := aes.NewCipher(s.Key[:])
	if err != nil {
		return nil, fmt.Errorf("aes key: %w", err)
	}
	c := &codec{version: s.Version(), te: s.TESecret}
	c.enc = cipher.NewCBCEncrypter(block, c.zeroIV[:])
	c.dec = cipher.NewCBCDecrypter(block, c.zeroIV[:])
	if _, ok := c.enc.(ivSetter); !ok {
		return nil, errors.New("cbc mode cannot reset its IV")
	}
	if _, ok := c.dec.(ivSetter); !ok {
		return nil, errors.New("cbc mode cannot reset its IV")
	}
	if c.version == V2 {
		c.mac = hmac.New(sha256.New, s.HMACKey[:])
	}
	return c, nil
}

// zero wipes the codec's copy of te_secret. The AES key schedule and the
// HMAC state stay in memory until collected: best effort.
func (c *codec) zero() { c.te.Zero() }

// bodyLen returns the body length for n plaintext bytes.
func (c *codec) bodyLen(n int) int { return BodyLen(c.version, n) }

// sealBody writes the body for p into body, which must be exactly
// c.bodyLen(len(p)) long; iv is the frame's fresh IV.
func (c *codec) sealBody(body, p []byte, iv *[IVSize]byte) {
	padded := PaddedLen(len(p))
	pad := byte(padded - len(p))
	switch c.version {
	case V2:
		copy(body, iv[:])
		ct := body[IVSize : IVSize+padded]
		copy(ct, p)
		for i := len(p); i < padded; i++ {
			ct[i] = pad
		}
		c.enc.(ivSetter).SetIV(iv[:])
		c.enc.CryptBlocks(ct, ct)
		c.mac.Reset()
		c.mac.Write(iv[:])
		c.mac.Write(ct)
		c.mac.Write(c.te[:])
		copy(body[IVSize+padded:], c.mac.Sum(c.sum[:0])[:MACSize])
	default:
		pt := body[:padded+DigestSize]
		copy(pt, p)
		for i := len(p); i < padded; i++ {
			pt[i] = pad
		}
		digest := sha256.Sum256(pt[:padded])
		copy(pt[padded:], digest[:])
		c.enc.(ivSetter).SetIV(iv[:])
		c.enc.CryptBlocks(pt, pt)
		copy(body[padded+DigestSize:], iv[:])
	}
}

// openBody authenticates and decrypts body into out (which needs room for
// len(body) bytes) and returns the plaintext within out. The body length must
// already be in bounds. Nothing is returned unless every check passed.
func (c *codec) openBody(out, body []byte) ([]byte, *[IVSize]byte, error) {
	switch c.version {
	case V2:
		iv := (*[IVSize]byte)(body[:IVSize])
		ct := body[IVSize : len(body)-MACSize]
		c.mac.Reset()
		c.mac.Write(iv[:])
		c.mac.Write(ct)
		c.mac.Write(c.te[:])
		sum := c.mac.Sum(c.sum[:0])
		if subtle.ConstantTimeCompare(sum[:MACSize], body[len(body)-MACSize:]) != 1 {
			return nil, nil, ErrMAC
		}
		pt := out[:len(ct)]
		c.dec.(ivSetter).SetIV(iv[:])
		c.dec.CryptBlocks(pt, ct)
		n, ok := unpad(pt)
		if !ok {
			return nil, nil, ErrPadding
		}
		return pt[:n], iv, nil
	default:
		iv := (*[IVSize]byte)(body[len(body)-IVSize:])
		ct := body[:len(body)-IVSize]
		pt := out[:len(ct)]
		c.dec.(ivSetter).SetIV(iv[:])
		c.dec.CryptBlocks(pt, ct)
		padded := pt[:len(pt)-DigestSize]
		digest := sha256.Sum256(padded)
		if subtle.ConstantTimeCompare(digest[:], pt[len(padded):]) != 1 {
			clear(pt)
			return nil, nil, ErrMAC
		}
		n, ok := unpad(padded)
		if !ok {
			clear(pt)
			return nil, nil, ErrPadding
		}
		return padded[:n], iv, nil
	}
}

// unpad checks RFC 5652 padding in full (every pad byte equals the pad
// length, 1 to BlockSize) and returns the plaintext length. It runs in time
// independent of the pad value.
func unpad(p []byte) (int, bool) {
	if len(p) < BlockSize || len(p)%BlockSize != 0 {
		return 0, false
	}
	last := p[len(p)-BlockSize:]
	n := last[BlockSize-1]
	good := subtle.ConstantTimeLessOrEq(1, int(n)) & subtle.ConstantTimeLessOrEq(int(n), BlockSize)
	for i := range BlockSize {
		// Bytes at positions >= BlockSize-n must equal n.
		inPad := subtle.ConstantTimeLessOrEq(BlockSize-int(n), i)
		eq := subtle.ConstantTimeByteEq(last[i], n)
		good &= eq | (inPad ^ 1)
	}
	return len(p) - int(n), good == 1
}

// putFrame writes the header and trailer around a body already in place:
// frame is exactly FrameOverhead+bodyLen long.
func putFrame(frame []byte) {
	bodyLen := len(frame) - FrameOverhead
	frame[0] = Flag
	binary.LittleEndian.PutUint16(frame[1:], uint16(bodyLen))
	fcs := FCS(frame[1 : HeaderSize+bodyLen])
	binary.LittleEndian.PutUint16(frame[HeaderSize+bodyLen:], fcs)
	frame[len(frame)-1] = Flag
}
