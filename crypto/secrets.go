package crypto

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
)

// SecretSize is the size of every C2C secret: te_secret, key, hmac_key and
// the pairing confirmation tag are 16 bytes each.
const SecretSize = 16

// SecretHexLen is the length of a secret written as hex.
const SecretHexLen = 2 * SecretSize

// FingerprintLen is the number of hex characters of a fingerprint.
const FingerprintLen = 8

// ErrBadHex is returned (wrapped) when a secret is not 32 hex characters.
var ErrBadHex = errors.New("not 32 hex characters")

// Version is the C2C protocol version a set of secrets speaks.
type Version int

// The two versions of the frame format.
const (
	V1 Version = 1
	V2 Version = 2
)

// String returns "V1" or "V2".
func (v Version) String() string {
	switch v {
	case V1:
		return "V1"
	case V2:
		return "V2"
	}
	return fmt.Sprintf("V%d?", int(v))
}

// Secret is one 16-byte secret. Formatting it with any fmt verb prints
// "[redacted]", so a secret cannot reach a log line by accident.
type Secret [SecretSize]byte

// Format implements fmt.Formatter and never prints the bytes.
func (Secret) Format(f fmt.State, _ rune) { io.WriteString(f, "[redacted]") }

// IsZero reports whether every byte of k is zero.
func (k *Secret) IsZero() bool {
	var acc byte
	for _, b := range k {
		acc |= b
	}
	return acc == 0
}

// Hex returns k as 32 lower-case hex characters, the form written to key
// files and AT commands. The result is a secret too: never log it.
func (k *Secret) Hex() string { return hex.EncodeToString(k[:]) }

// ParseSecret decodes 32 hex characters, upper or lower case, into a Secret.
// The error says what is wrong without repeating the input.
func ParseSecret(s string) (Secret, error) {
	var k Secret
	s = strings.TrimSpace(s)
	if len(s) != SecretHexLen {
		return k, fmt.Errorf("%w: got %d characters", ErrBadHex, len(s))
	}
	if _, err := hex.Decode(k[:], []byte(s)); err != nil {
		return Secret{}, fmt.Errorf("%w: contains a character that is not hex", ErrBadHex)
	}
	return k, nil
}

// Zero overwrites k with zeros.
func (k *Secret) Zero() { clear(k[:]) }

// Secrets are the values a pairing leaves on the host. Pass them by pointer
// only: a Go panic trace prints arrays passed by value. Formatting *Secrets
// prints the version and the fingerprint, never the bytes.
type Secrets struct {
	TESecret Secret // te_secret: made by the host at pairing
	Key      Secret // c2c_encryption_key: the AES-128 key
	HMACKey  Secret // hmac_key: all zero on a V1 module
}

// RandomSecrets returns fresh random secrets of one pairing of version v,
// as a module makes them when it is paired (a V1 pairing has no hmac_key).
// For the simulated module's demo, benchmarks and tests: a real pairing
// gets the key and hmac_key from the module.
func RandomSecrets(v Version) *Secrets {
	s := &Secrets{}
	rand.Read(s.TESecret[:])
	rand.Read(s.Key[:])
	if v == V2 {
		for s.HMACKey.IsZero() {
			rand.Read(s.HMACKey[:])
		}
	}
	return s
}

// Version returns V2 when the hmac_key is not all zero, else V1.
func (s *Secrets) Version() Version {
	if s.HMACKey.IsZero() {
		return V1
	}
	return V2
}

// Fingerprint returns the first 8 lower-case hex characters of
// SHA-256(te_secret ‖ key ‖ hmac_key): the one fingerprint every command of
// the project prints (docs/protocol.md, "Fingerprint"). It identifies a
// pairing without revealing it.
func (s *Secrets) Fingerprint() string {
	h := sha256.New()
	h.Write(s.TESecret[:])
	h.Write(s.Key[:])
	h.Write(s.HMACKey[:])
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0])[:FingerprintLen/2])
}

// String returns "V2 fingerprint 1a2b3c4d".
func (s *Secrets) String() string {
	if s == nil {
		return "<no secrets>"
	}
	return s.Version().String() + " fingerprint " + s.Fingerprint()
}

// Format implements fmt.Formatter: every verb prints String.
func (s *Secrets) Format(f fmt.State, _ rune) { io.WriteString(f, s.String()) }

// Zero overwrites all three secrets. Go may have left copies elsewhere (a
// garbage-collected stack, the AES key schedule): zeroing is best effort.
func (s *Secrets) Zero() {
	s.TESecret.Zero()
	s.Key.Zero()
	s.HMACKey.Zero()
}
