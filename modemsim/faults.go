package modemsim

import (
	"math"
	"math/rand/v2"
)

// Faults are line faults the module applies at a rate per byte, each
// between 0 (never) and 1 (every byte). Output faults hit the bytes the
// module writes (frames, plain text, injected and replayed bytes alike);
// input faults hit the bytes it reads, before it looks at them.
type Faults struct {
	FlipOut float64 // a byte written gets one random bit flipped
	DropOut float64 // a byte written is left out
	FlipIn  float64 // a byte read gets one random bit flipped
	DropIn  float64 // a byte read is ignored
}

// SetFaults sets the fault rates from now on; the zero Faults turns them
// off. Rates outside [0, 1] are clamped.
func (m *Module) SetFaults(f Faults) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.faults.flipOut.rate = clamp(f.FlipOut)
	m.faults.dropOut.rate = clamp(f.DropOut)
	m.faults.flipIn.rate = clamp(f.FlipIn)
	m.faults.dropIn.rate = clamp(f.DropIn)
	m.faults.reset()
}

func clamp(r float64) float64 {
	if math.IsNaN(r) || r < 0 {
		return 0
	}
	return min(r, 1)
}

// faults holds the fault generator. Instead of a random draw per byte, it
// draws the distance to the next faulty byte (a geometric distribution),
// so a clean byte costs nothing and 64 MiB of data mode stay fast.
type faults struct {
	rng                              *rand.Rand
	flipOut, dropOut, flipIn, dropIn faultStream
}

// faultStream is one kind of fault: skip clean bytes pass before the next
// faulty one; -1 means draw again.
type faultStream struct {
	rate float64
	skip int64
}

func (f *faults) reset() {
	for _, s := range []*faultStream{&f.flipOut, &f.dropOut, &f.flipIn, &f.dropIn} {
		s.skip = -1
	}
}

// draw sets the distance to the next fault.
func (s *faultStream) draw(rng *rand.Rand) {
	if s.rate >= 1 {
		s.skip = 0
		return
	}
	d := math.Log1p(-rng.Float64()) / math.Log1p(-s.rate)
	s.skip = int64(min(d, math.MaxInt32))
}

// flip flips one bit in each faulty byte of p and returns how many.
func (s *faultStream) flip(p []byte, rng *rand.Rand) uint64 {
	if s.rate <= 0 {
		return 0
	}
	var n uint64
	for pos := 0; ; {
		if s.skip < 0 {
			s.draw(rng)
		}
		if int64(len(p)-pos) <= s.skip {
			s.skip -= int64(len(p) - pos)
			return n
		}
		pos += int(s.skip)
		p[pos] ^= 1 << rng.IntN(8)
		n++
		pos++
		s.skip = -1
	}
}

// drop removes the faulty bytes of p in place and returns what is left and
// how many went.
func (s *faultStream) drop(p []byte, rng *rand.Rand) ([]byte, uint64) {
	if s.rate <= 0 {
		return p, 0
	}
	var n uint64
	w := 0
	for pos := 0; pos < len(p); {
		if s.skip < 0 {
			s.draw(rng)
		}
		k := int(min(s.skip, int64(len(p)-pos)))
		w += copy(p[w:], p[pos:pos+k])
		pos += k
		s.skip -= int64(k)
		if pos < len(p) {
			pos++ // the faulty byte
			n++
			s.skip = -1
		}
	}
	return p[:w], n
}

// output applies the output faults to p. m.mu held.
func (f *faults) output(p []byte, st *Stats) []byte {
	st.BitsFlippedOut += f.flipOut.flip(p, f.rng)
	p, n := f.dropOut.drop(p, f.rng)
	st.BytesDroppedOut += n
	return p
}

// input applies the input faults to p. m.mu held.
func (f *faults) input(p []byte, st *Stats) []byte {
	st.BitsFlippedIn += f.flipIn.flip(p, f.rng)
	p, n := f.dropIn.drop(p, f.rng)
	st.BytesDroppedIn += n
	return p
}

// InjectPlain puts p on the line towards the host, as an attacker (or a
// noisy line) would, between the module's own frames. Nothing happens to
// the module's state. The bytes are lost while no line is served.
func (m *Module) InjectPlain(p []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.flush()
	m.stats.BytesInjected += uint64(len(p))
	m.event("inject")
	m.queue(p)
}

// ReplayFrame sends the last frame the module sealed again, byte for byte
// (an authentic frame with a reused IV, which a host without replay
// protection accepts again). It reports false when the module has sealed
// no frame yet or no line is served.
func (m *Module) ReplayFrame() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.lastFrame) == 0 || m.conn == nil {
		return false
	}
	m.flush()
	m.stats.FramesReplayed++
	m.event("replay")
	m.queue(m.lastFrame)
	return true
}

// RecordNextFrame arms a recorder: the next frame the module seals whose
// plaintext contains sub (any frame when sub is empty) is kept, byte for
// byte, until ReplayRecorded sends it again; it replaces a frame recorded
// before. The recording survives the end of its session, a reopen, a
// rekey and a reboot, so that a test can replay an authentic frame of an
// earlier session (a host that keeps its window of seen IVs while the
// secrets are unchanged refuses it).
func (m *Module) RecordNextFrame(sub string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.recArmed = true
	m.recMatch = []byte(sub)
}

// ReplayRecorded sends the frame RecordNextFrame kept, in whatever state
// the module is now, as ReplayFrame does. It reports false when no frame
// has been recorded yet or no line is served. The recording stays, so it
// can be replayed again.
func (m *Module) ReplayRecorded() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.recorded) == 0 || m.conn == nil {
		return false
	}
	m.flush()
	m.stats.FramesReplayed++
	m.event("replay")
	m.queue(m.recorded)
	return true
}

// SendURC sends an unsolicited result code, "\r\n<text>\r\n", in a frame
// of its own in a session, at once (in data mode too, into the data).
func (m *Module) SendURC(text string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down {
		return
	}
	m.ownFrame(m.response(text))
}

// DropCall drops the call in data mode: the module sends NO CARRIER (in a
// frame in a session) and returns to command mode. It also ends a call
// left with +++. It reports whether a call was up.
func (m *Module) DropCall() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.callUp {
		return false
	}
	m.dropCall()
	return true
}

// dropCall ends the call with NO CARRIER. m.mu held.
func (m *Module) dropCall() {
	m.flush()
	m.leaveDataMode()
	m.callUp = false
	m.stats.CallDrops++
	m.event("no carrier")
	m.emitLine("NO CARRIER")
	m.flush()
	m.callEnded()
}

// Reboot reboots the module now, as a watchdog or a power cut would: the
// session, data mode, a command in progress, unread input and the line A/
// repeats are gone, echo, AT+CMEE, ATV and the S-registers return to their
// defaults; after Config.RebootDelay
// (deaf meanwhile) it sends "\r\nRDY\r\n" in plain text. Pairing survives.
func (m *Module) Reboot() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	m.reboot("Reboot")
}

// reboot does Reboot for reason. m.mu held.
func (m *Module) reboot(reason string) {
	m.flush()
	m.endSession()
	m.stopTimers()
	m.epoch++
	m.leaveDataMode()
	if m.callUp {
		m.callUp = false
		m.callEnded()
	}
	m.resetProfile()
	m.at.reboot()
	m.cfun = 1
	m.line = m.line[:0]
	m.sms = smsEntry{}
	m.lastLine = ""
	m.lineOver = false
	m.busy = false
	m.held = nil
	m.stats.Reboots++
	m.event("reboot")
	m.log.Debug("modemsim reboot", "reason", reason)
	if m.rebootDelay <= 0 {
		m.ready()
		return
	}
	m.down = true
	epoch := m.epoch
	m.after(m.rebootDelay, func() {
		if m.epoch == epoch {
			m.ready()
		}
	})
}

// ready ends a reboot. m.mu held.
func (m *Module) ready() {
	m.down = false
	m.event("rdy")
	m.emitLine("RDY")
	m.flush()
}
