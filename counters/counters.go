// Package counters defines the bridge's counters once. Each counter has an
// ID, a name and a one-line meaning in the table below; from that table
// come the atomic Set the session engine increments, the Snapshot the
// status socket reports (its JSON object is a contract: names are never
// renamed or removed) and any other view, such as metrics.
//
// Adding a counter is one edit here: a constant and its row.
package counters

import (
	"encoding/json"
	"fmt"
	"sync/atomic"
)

// ID names one counter.
type ID int

// The counters, in the order the status socket lists them.
const (
	AppBytesUp ID = iota
	AppBytesDown
	LineBytesUp
	LineBytesDown
	FramesUp
	FramesDown
	MACFailures
	FCSFailures
	LengthErrors
	OtherRejects
	StrayBytes
	PlainDropped
	Replays
	RefusedCommands
	Opens
	Rekeys
	RekeysOverdue
	Reopens
	Reconnects
	AppOverruns

	count // the number of counters; not a counter
)

// defs holds each counter's name (snake_case, as in JSON), meaning and
// whether it counts a failure (something an operator should look at when
// it is not zero: "c2cbridge status --all" shows those).
// The array's length is count: a constant without its row does not compile.
var defs = [count]struct {
	name, help string
	failure    bool
}{
	AppBytesUp:      {"app_bytes_up", "application bytes sent to the module", false},
	AppBytesDown:    {"app_bytes_down", "plaintext bytes delivered to the application", false},
	LineBytesUp:     {"line_bytes_up", "bytes written to the UART", false},
	LineBytesDown:   {"line_bytes_down", "bytes read from the UART", false},
	FramesUp:        {"frames_up", "frames sent to the module", false},
	FramesDown:      {"frames_down", "authentic frames from the module", false},
	MACFailures:     {"mac_failures", "frames that failed authentication or padding", true},
	FCSFailures:     {"fcs_failures", "frames with a bad checksum", true},
	LengthErrors:    {"length_errors", "frame starts with a length out of bounds", true},
	OtherRejects:    {"other_rejects", "frames rejected for other reasons (no closing flag, stalled)", true},
	StrayBytes:      {"stray_bytes", "bytes outside frames during a session", false},
	PlainDropped:    {"plain_dropped", "plain-text bytes not meant for the bridge, never forwarded", false},
	Replays:         {"replays", "replayed frames dropped", true},
	RefusedCommands: {"refused_commands", "application commands refused by the bridge", false},
	Opens:           {"opens", "secure sessions opened (AT+USECC2C=1 sent)", false},
	Rekeys:          {"rekeys", "rekeys completed", false},
	RekeysOverdue:   {"rekeys_overdue", "rekeys that waited for a data-mode call to end", false},
	Reopens:         {"reopens", "sessions reopened after a loss", false},
	Reconnects:      {"reconnects", "UART reconnections", false},
	AppOverruns:     {"app_overruns", "plaintext bytes dropped because the application did not read them", true},
}

// All returns every counter ID in order.
func All() []ID {
	ids := make([]ID, count)
	for i := range ids {
		ids[i] = ID(i)
	}
	return ids
}

// Name returns the counter's name as the status socket's JSON spells it.
func (id ID) Name() string { return defs[id].name }

// Help returns what the counter counts, in a few words.
func (id ID) Help() string { return defs[id].help }

// Failure reports whether the counter counts a failure: frames that
// failed a check, replays, output the application lost.
func (id ID) Failure() bool { return defs[id].failure }

// String implements fmt.Stringer.
func (id ID) String() string { return id.Name() }

// Set is the live counters of one bridge. The zero Set is ready; every
// method is safe for concurrent use.
type Set struct {
	v [count]atomic.Uint64
}

// Add adds n to the counter id.
func (s *Set) Add(id ID, n uint64) { s.v[id].Add(n) }

// Inc adds one to the counter id.
func (s *Set) Inc(id ID) { s.v[id].Add(1) }

// Load returns the counter id's value.
func (s *Set) Load(id ID) uint64 { return s.v[id].Load() }

// Snapshot returns every counter's current value.
func (s *Set) Snapshot() Snapshot {
	var out Snapshot
	for i := range s.v {
		out[i] = s.v[i].Load()
	}
	return out
}

// Snapshot holds the values of every counter at one moment, indexed by ID.
// Its JSON form is an object of the counters' names in order.
type Snapshot [count]uint64

// Counter is one named counter value.
type Counter struct {
	Name  string // as in JSON
	Value uint64
}

// List returns the counters in order, named as in JSON.
func (s Snapshot) List() []Counter {
	out := make([]Counter, count)
	for i := range s {
		out[i] = Counter{Name: defs[i].name, Value: s[i]}
	}
	return out
}

// MarshalJSON writes the counters as one object, in order.
func (s Snapshot) MarshalJSON() ([]byte, error) {
	b := []byte{'{'}
	for i, v := range s {
		if i > 0 {
			b = append(b, ',')
		}
		b = fmt.Appendf(b, "%q:%d", defs[i].name, v)
	}
	return append(b, '}'), nil
}

// UnmarshalJSON reads an object of named counters. Names it does not know
// (from a newer daemon) are skipped; counters missing from it stay zero.
func (s *Snapshot) UnmarshalJSON(data []byte) error {
	var m map[string]uint64
	if err := json.Unmarshal(data, &m); err != nil {
		return fmt.Errorf("counters: %w", err)
	}
	*s = Snapshot{}
	for i := range s {
		s[i] = m[defs[i].name]
	}
	return nil
}
