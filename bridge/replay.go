package bridge

import c2c "github.com/c2cbridge/c2cbridge/crypto"

// replaySet remembers the IVs of the most recent module frames of a session.
// Frames carry no counter, so a frame whose IV was already seen is taken as
// a replay. The check runs after authentication.
type replaySet struct {
	ring [][c2c.IVSize]byte
	next int
	n    int
	set  map[[c2c.IVSize]byte]struct{}
}

func (r *replaySet) init(size int) {
	r.ring = make([][c2c.IVSize]byte, size)
	r.set = make(map[[c2c.IVSize]byte]struct{}, size)
}

// reset forgets every IV: a new session starts.
func (r *replaySet) reset() {
	clear(r.set)
	r.next, r.n = 0, 0
}

// seen reports whether iv was seen in the window, and remembers it if not.
func (r *replaySet) seen(iv *[c2c.IVSize]byte) bool {
	if _, ok := r.set[*iv]; ok {
		return true
	}
	if r.n == len(r.ring) {
		delete(r.set, r.ring[r.next])
	} else {
		r.n++
	}
	r.ring[r.next] = *iv
	r.set[*iv] = struct{}{}
	r.next = (r.next + 1) % len(r.ring)
	return false
}
