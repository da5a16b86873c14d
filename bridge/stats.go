package bridge

import (
	"errors"
	"sync/atomic"
	"time"

	c2c "github.com/c2cbridge/c2cbridge/crypto"
)

type counters struct {
	appBytesUp, appBytesDown   atomic.Uint64
	lineBytesUp, lineBytesDown atomic.Uint64
	framesUp, framesDown       atomic.Uint64
	macFailures, fcsFailures   atomic.Uint64
	lengthErrors, otherRejects atomic.Uint64
	strayBytes, plainDropped   atomic.Uint64
	replays, refused           atomic.Uint64
	opens, rekeys              atomic.Uint64
	reopens, reconnects        atomic.Uint64
	rekeysOverdue              atomic.Uint64
}

func (c *counters) countReject(err error) {
	switch {
	case errors.Is(err, c2c.ErrMAC), errors.Is(err, c2c.ErrPadding):
		c.macFailures.Add(1)
	case errors.Is(err, c2c.ErrFCS):
		c.fcsFailures.Add(1)
	case errors.Is(err, c2c.ErrLength):
		c.lengthErrors.Add(1)
	default:
		c.otherRejects.Add(1)
	}
}

// Stats is a snapshot of a Bridge's counters and state.
type Stats struct {
	State         State
	ModemUp       bool      // the modem connection is there (not reconnecting)
	LastRekey     time.Time // zero before the first
	NextRekey     time.Time // zero when no rekey is scheduled by time
	Since         time.Time
	Version       c2c.Version
	Fingerprint   string
	AppBytesUp    uint64 // application bytes sent to the module
	AppBytesDown  uint64 // plaintext bytes delivered to the application
	LineBytesUp   uint64 // bytes written to the UART
	LineBytesDown uint64 // bytes read from the UART
	FramesUp      uint64
	FramesDown    uint64 // authentic module frames
	MACFailures   uint64 // frames that failed authentication or padding
	FCSFailures   uint64
	LengthErrors  uint64 // frame starts with a LEN out of bounds
	OtherRejects  uint64 // missing closing flag, stalled frames
	StrayBytes    uint64 // bytes outside frames during a session
	PlainDropped  uint64 // plain-text bytes not meant for the bridge, never forwarded
	Replays       uint64
	Refused       uint64 // application commands containing +USECC2C
	Opens         uint64
	Rekeys        uint64
	Reopens       uint64
	Reconnects    uint64
	RekeysOverdue uint64 // rekeys that waited for a data-mode call to end
}

// Stats returns a snapshot of the counters.
func (b *Bridge) Stats() Stats {
	b.mu.Lock()
	st := Stats{State: b.state, Since: b.since, Version: b.secrets.Version(), Fingerprint: b.secrets.Fingerprint(),
		ModemUp: b.state != StateModemLost}
	if b.stats.rekeys.Load() > 0 {
		st.LastRekey = b.lastRekey
	}
	if b.rekeyEvery > 0 && !b.lastRekey.IsZero() {
		st.NextRekey = b.lastRekey.Add(b.rekeyEvery)
	}
	b.mu.Unlock()
	c := &b.stats
	st.AppBytesUp, st.AppBytesDown = c.appBytesUp.Load(), c.appBytesDown.Load()
	st.LineBytesUp, st.LineBytesDown = c.lineBytesUp.Load(), c.lineBytesDown.Load()
	st.FramesUp, st.FramesDown = c.framesUp.Load(), c.framesDown.Load()
	st.MACFailures, st.FCSFailures = c.macFailures.Load(), c.fcsFailures.Load()
	st.LengthErrors, st.OtherRejects = c.lengthErrors.Load(), c.otherRejects.Load()
	st.StrayBytes, st.PlainDropped = c.strayBytes.Load(), c.plainDropped.Load()
	st.Replays, st.Refused = c.replays.Load(), c.refused.Load()
	st.Opens, st.Rekeys = c.opens.Load(), c.rekeys.Load()
	st.Reopens, st.Reconnects = c.reopens.Load(), c.reconnects.Load()
	st.RekeysOverdue = c.rekeysOverdue.Load()
	return st
}
