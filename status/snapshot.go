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

	"github.com/c2cbridge/c2cbridge/counters"
)

// Snapshot is what the status socket reports. Its JSON encoding is the
// socket's contract: fields may be added, never renamed or removed.
type Snapshot struct {
	// Instance is the daemon's instance name (run --instance, the %i of
	// c2cbridge@.service); empty for a daemon started without one.
	Instance string `json:"instance,omitempty"`
	// Device is the module's UART as configured (modem.device).
	Device  string  `json:"device,omitempty"`
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
	Fingerprint string `json:"fingerprint"`
	// KeyFileUnsaved is true while the daemon could not write its key file
	// when it had to: rekeys wait, and secrets the module issued may exist
	// only in memory (a restart would lose them).
	KeyFileUnsaved bool     `json:"key_file_unsaved"`
	Counters       Counters `json:"counters"`
}

// Name is what names the bridge in metrics and listings: its instance
// name, else its modem device.
func (s Snapshot) Name() string {
	if s.Instance != "" {
		return s.Instance
	}
	return s.Device
}

// Session describes the secure session.
type Session struct {
	// State is the bridge's session state: "starting", "opening", "open",
	// "rekeying", "module rebooted", "module lost", "closing" or "closed".
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

// Counters are the bridge's counters since the daemon started, as the
// counters package defines them; index them by counters.ID. Their JSON
// object names each counter.
type Counters = counters.Snapshot

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
	if s.KeyFileUnsaved {
		fmt.Fprintf(tw, "key file:\t%s\n", "NOT SAVED: rekeys wait; see the log")
	}
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
