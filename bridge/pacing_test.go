package bridge

import (
	"bytes"
	"testing"

	"github.com/c2cbridge/c2cbridge/counters"
	"github.com/c2cbridge/c2cbridge/modemsim"
)

// TestPacingCoalescesSmallWrites: on an emulated 9600 baud line (a 54-byte
// frame takes 56 ms, far longer than the gaps between the writes even on a
// loaded machine), a storm of 10-byte application writes leaves in far
// fewer frames than writes, and every byte comes back.
func TestPacingCoalescesSmallWrites(t *testing.T) {
	const pace = 9600
	r := newRig(t, rigOpts{rawApp: true,
		modCfg: func(c *modemsim.Config) { c.Baud = 9600 },
		brCfg:  func(c *Config) { c.PaceBaud = pace; c.Baud = 9600 }})
	r.waitOpen()
	r.send("ATD*99#\r")
	r.raw.waitLen(t, len("\r\nCONNECT\r\n"))
	r.raw.take(len("\r\nCONNECT\r\n"))
	before := r.b.Stats().Counters[counters.FramesUp]
	const writes = 100
	var sent []byte
	for i := range writes {
		p := bytes.Repeat([]byte{byte('a' + i%26)}, 10)
		sent = append(sent, p...)
		r.send(string(p))
	}
	back := r.raw.waitLen(t, len(sent))
	if !bytes.Equal(back, sent) {
		t.Fatalf("pace %d: the storm came back different", pace)
	}
	frames := r.b.Stats().Counters[counters.FramesUp] - before
	t.Logf("pace %d: %d writes of 10 bytes left in %d frames", pace, writes, frames)
	if frames > writes/4 {
		t.Fatalf("with pacing %d writes left in %d frames: not coalesced", writes, frames)
	}
}
