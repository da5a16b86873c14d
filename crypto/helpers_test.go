package crypto

import (
	"crypto/sha256"
	mrand "math/rand/v2"
)

func sha256Sum(p []byte) [32]byte { return sha256.Sum256(p) }

// randReader makes a deterministic math/rand source an io.Reader.
type randReader struct{ r *mrand.Rand }

func (rr randReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(rr.r.Uint32())
	}
	return len(p), nil
}

func reader(r *mrand.Rand) randReader { return randReader{r} }
