package crypto

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
)

// ConfirmationBodyLen is the size of the V2 body of a 16-byte confirmation
// tag: IV, 32 bytes of ciphertext (the tag gains a whole pad block), MAC.
const ConfirmationBodyLen = IVSize + 2*BlockSize + MACSize

// ErrNotV2 is returned when an operation needs V2 secrets.
var ErrNotV2 = errors.New("pairing confirmation needs V2 secrets (an hmac_key)")

// SealConfirmation returns the hex of the V2 body sealing the pairing
// confirmation tag, as sent in AT+USECC2C=4,"<te_secret>","<encrypted_tag>":
// 128 hex characters (docs/protocol.md, "Security commands"). rand supplies
// the IV.
func SealConfirmation(s *Secrets, tag *Secret, rand io.Reader) (string, error) {
	if s.Version() != V2 {
		return "", ErrNotV2
	}
	c, err := newCodec(s)
	if err != nil {
		return "", fmt.Errorf("seal confirmation: %w", err)
	}
	defer c.zero()
	var iv [IVSize]byte
	if _, err := io.ReadFull(rand, iv[:]); err != nil {
		return "", fmt.Errorf("seal confirmation: random IV: %w", err)
	}
	var body [ConfirmationBodyLen]byte
	c.sealBody(body[:], tag[:], &iv)
	return hex.EncodeToString(body[:]), nil
}

// OpenConfirmation checks the hex of a sealed confirmation body against s
// and returns the tag it carries. A module (or modemsim) compares that tag
// with the one it issued.
func OpenConfirmation(s *Secrets, hexBody string) (Secret, error) {
	var tag Secret
	if s.Version() != V2 {
		return tag, ErrNotV2
	}
	var body [ConfirmationBodyLen]byte
	if hex.DecodedLen(len(hexBody)) != len(body) {
		return tag, fmt.Errorf("open confirmation: %w: want %d hex characters, got %d", ErrLength, 2*len(body), len(hexBody))
	}
	if _, err := hex.Decode(body[:], []byte(hexBody)); err != nil {
		return tag, fmt.Errorf("open confirmation: not hex")
	}
	c, err := newCodec(s)
	if err != nil {
		return tag, fmt.Errorf("open confirmation: %w", err)
	}
	defer c.zero()
	var out [ConfirmationBodyLen]byte
	pt, _, err := c.openBody(out[:], body[:])
	if err != nil {
		return tag, fmt.Errorf("open confirmation: %w", err)
	}
	if len(pt) != SecretSize {
		return tag, fmt.Errorf("open confirmation: tag of %d bytes: %w", len(pt), ErrLength)
	}
	copy(tag[:], pt)
	clear(out[:])
	return tag, nil
}
