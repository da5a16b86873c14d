// Package status is the c2cbridge daemon's status socket: a unix stream
// socket that answers every connection with one JSON object describing the
// secure session, then closes the connection.
//
// The JSON object is a Snapshot; its field names (snake_case) are a
// contract for scripts and monitoring. It holds state, times, counters and
// the key fingerprint (a truncated hash that identifies a pairing), never a
// secret. The daemon serves it with Listen; "c2cbridge status" reads it
// with Query and prints it with Format.
//
// The socket is mode 0600 (root and the daemon's user), or 0660 with a
// group when status.group is configured.
package status

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

// Snapshot is what the status socket reports. Its JSON encoding is the
// socket's contract: fields may be added, never renamed or removed.
type Snapshot struct {
	Session Session `json:"session"`
	Rekey   Rekey   `json:"rekey"`
	// ApplicationAttached is true while an application holds the
	// virtual tty open.
	ApplicationAttached bool `json:"application_attached"`
	// ModuleAttached is true while the module's UART is open (false while
	// an unplugged adapter is awaited).
	ModuleAttached bool `json:"module_attached"`
	// Fingerprint identifies the pairing secrets in use (8 hex digits of
	// a hash); it reveals nothing about them.
	Fingerprint string   `json:"fingerprint"`
	Counters    Counters `json:"counters"`
}

// Session describes the secure session.
type Session struct {
	// State is the bridge's session state: "starting", "opening", "open",
	// "rekeying", "closing", "closed" or "module lost".
	State string `json:"state"`
	// Version is the frame format of the secrets in use: "V1" or "V2".
	Version string `json:"version"`
	// Since is when the session entered State (RFC 3339 in JSON).
	Since time.Time `json:"since"`
}

// Rekey holds the rekey times; each is null in JSON when unknown.
type Rekey struct {
	// Last is when the last rekey completed; nil if none has in this run.
	Last *time.Time `json:"last"`
	// Next is when the next rekey is due; nil if none is scheduled.
	Next *time.Time `json:"next"`
}

// Counters are the bridge's counters since the daemon started.
type Counters struct {
	AppBytesUp      uint64 `json:"app_bytes_up"`     // application bytes sent to the module
	AppBytesDown    uint64 `json:"app_bytes_down"`   // plaintext bytes delivered to the application
	LineBytesUp     uint64 `json:"line_bytes_up"`    // bytes written to the UART
	LineBytesDown   uint64 `json:"line_bytes_down"`  // bytes read from the UART
	FramesUp        uint64 `json:"frames_up"`        // frames sent to the module
	FramesDown      uint64 `json:"frames_down"`      // authentic frames from the module
	MACFailures     uint64 `json:"mac_failures"`     // frames that failed authentication or padding
	FCSFailures     uint64 `json:"fcs_failures"`     // frames with a bad checksum
	LengthErrors    uint64 `json:"length_errors"`    // frame starts with a length out of bounds
	OtherRejects    uint64 `json:"other_rejects"`    // frames rejected for other reasons
	StrayBytes      uint64 `json:"stray_bytes"`      // bytes outside frames during a session
	PlainDropped    uint64 `json:"plain_dropped"`    // plain-text bytes never forwarded
	Replays         uint64 `json:"replays"`          // replayed frames dropped
	RefusedCommands uint64 `json:"refused_commands"` // application commands containing +USECC2C
	Opens           uint64 `json:"opens"`            // sessions opened
	Rekeys          uint64 `json:"rekeys"`           // rekeys completed
	RekeysOverdue   uint64 `json:"rekeys_overdue"`   // rekeys that waited for a data-mode call to end
	Reopens         uint64 `json:"reopens"`          // sessions reopened after a loss
	Reconnects      uint64 `json:"reconnects"`       // UART reconnections
}

// Counter is one named counter.
type Counter struct {
	Name  string // the JSON name
	Value uint64
}

// List returns the counters in a fixed order, named as in JSON.
func (c Counters) List() []Counter {
	return []Counter{
		{"app_bytes_up", c.AppBytesUp},
		{"app_bytes_down", c.AppBytesDown},
		{"line_bytes_up", c.LineBytesUp},
		{"line_bytes_down", c.LineBytesDown},
		{"frames_up", c.FramesUp},
		{"frames_down", c.FramesDown},
		{"mac_failures", c.MACFailures},
		{"fcs_failures", c.FCSFailures},
		{"length_errors", c.LengthErrors},
		{"other_rejects", c.OtherRejects},
		{"stray_bytes", c.StrayBytes},
		{"plain_dropped", c.PlainDropped},
		{"replays", c.Replays},
		{"refused_commands", c.RefusedCommands},
		{"opens", c.Opens},
		{"rekeys", c.Rekeys},
		{"rekeys_overdue", c.RekeysOverdue},
		{"reopens", c.Reopens},
		{"reconnects", c.Reconnects},
	}
}

// Format writes s for a person: the session, the rekey times, what is
// attached, the fingerprint, then every counter. Times are shown as the
// daemon reported them, with their distance from now.
func Format(w io.Writer, s Snapshot) error {
	return formatAt(w, s, time.Now())
}

// formatAt is Format with the current time passed in.
func formatAt(w io.Writer, s Snapshot, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	session := s.Session.State
	if session == "" {
		session = "unknown"
	}
	if s.Session.Version != "" {
		session += ", " + s.Session.Version
	}
	if !s.Session.Since.IsZero() {
		session += ", since " + when(s.Session.Since, now)
	}
	fmt.Fprintf(tw, "session:\t%s\n", session)
	fmt.Fprintf(tw, "last rekey:\t%s\n", optionalTime(s.Rekey.Last, now, "none since start"))
	fmt.Fprintf(tw, "next rekey:\t%s\n", optionalTime(s.Rekey.Next, now, "not scheduled"))
	fmt.Fprintf(tw, "application:\t%s\n", attached(s.ApplicationAttached))
	fmt.Fprintf(tw, "module:\t%s\n", attached(s.ModuleAttached))
	fp := s.Fingerprint
	if fp == "" {
		fp = "unknown"
	}
	fmt.Fprintf(tw, "fingerprint:\t%s\n", fp)
	fmt.Fprintln(tw, "counters:") // no cell: the counters align on their own
	for _, c := range s.Counters.List() {
		fmt.Fprintf(tw, "  %s\t%d\n", c.Name, c.Value)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("format status: %w", err)
	}
	return nil
}

func attached(b bool) string {
	if b {
		return "attached"
	}
	return "not attached"
}

func optionalTime(t *time.Time, now time.Time, none string) string {
	if t == nil || t.IsZero() {
		return none
	}
	return when(*t, now)
}

// when formats t in RFC 3339 with its distance from now, rounded to the
// second: "2025-06-01T10:00:00Z (1h2m3s ago)".
func when(t, now time.Time) string {
	d := now.Sub(t).Round(time.Second)
	var rel string
	switch {
	case d > 0:
		rel = d.String() + " ago"
	case d < 0:
		rel = "in " + (-d).String()
	default:
		rel = "now"
	}
	return t.Format(time.RFC3339) + " (" + rel + ")"
}
