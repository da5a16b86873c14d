package bridge

import (
	"errors"
	"time"

	"github.com/c2cbridge/c2cbridge/counters"
	c2c "github.com/c2cbridge/c2cbridge/crypto"
)

// rejectCounter returns the counter a rejected module frame goes to.
func rejectCounter(err error) counters.ID {
	switch {
	case errors.Is(err, c2c.ErrMAC), errors.Is(err, c2c.ErrPadding):
		return counters.MACFailures
	case errors.Is(err, c2c.ErrFCS):
		return counters.FCSFailures
	case errors.Is(err, c2c.ErrLength):
		return counters.LengthErrors
	}
	return counters.OtherRejects
}

// Stats is a snapshot of a Bridge's state and counters.
type Stats struct {
	State State
	// ModemUp is false only while the UART is gone (StateModemLost).
	ModemUp bool
	// LastRekey is when the last rekey completed; zero before the first.
	LastRekey time.Time
	// NextRekey is when the next rekey is due by time; zero when none is
	// scheduled by time.
	NextRekey time.Time
	// Since is when the bridge entered State.
	Since       time.Time
	Version     c2c.Version
	Fingerprint string
	// KeyFileUnsaved is true while the key file could not be written when
	// it had to be: rekeys wait, and secrets the module issued may exist
	// only in memory.
	KeyFileUnsaved bool
	// Counters are the counters since New, indexed by counters.ID.
	Counters counters.Snapshot
}
