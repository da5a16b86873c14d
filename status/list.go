package status

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/c2cbridge/c2cbridge/counters"
)

// SingleInstance is how a listing shows the single service
// (c2cbridge.service, which has no instance name).
const SingleInstance = "-"

// Listed is one daemon of a listing: its instance, and its snapshot or
// why it could not be asked.
type Listed struct {
	// Instance is the instance name, "" for the single service.
	Instance string
	// Snapshot is the daemon's answer when Err is nil.
	Snapshot Snapshot
	// Err says why the daemon could not be asked.
	Err error
}

// FormatList writes one line per daemon for a person: instance, session
// state, frame format, fingerprint, last rekey, whether an application is
// attached, and notes: key_file_unsaved, the module detached and every
// failure counter (counters.ID.Failure) that is not zero.
func FormatList(w io.Writer, list []Listed) error {
	return formatListAt(w, list, time.Now())
}

// formatListAt is FormatList with the current time passed in.
func formatListAt(w io.Writer, list []Listed, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "INSTANCE\tSTATE\tVERSION\tFINGERPRINT\tLAST REKEY\tAPPLICATION\tNOTES")
	for _, l := range list {
		name := l.Instance
		if name == "" {
			name = SingleInstance
		}
		if l.Err != nil {
			fmt.Fprintf(tw, "%s\t%s\t-\t-\t-\t-\t%s\n", name, "unreachable", oneLine(l.Err.Error()))
			continue
		}
		s := l.Snapshot
		last := "none"
		if s.Rekey.Last != nil && !s.Rekey.Last.IsZero() {
			last = ago(*s.Rekey.Last, now)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", name, dash(s.Session.State), dash(s.Session.Version),
			dash(s.Fingerprint), last, attached(s.ApplicationAttached), notes(s))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("format status list: %w", err)
	}
	return nil
}

// notes lists what needs an operator's eye, "-" if nothing.
func notes(s Snapshot) string {
	var n []string
	if s.KeyFileUnsaved {
		n = append(n, "key_file_unsaved")
	}
	if !s.ModuleAttached {
		n = append(n, "module not attached")
	}
	for _, id := range counters.All() {
		if id.Failure() && s.Counters[id] != 0 {
			n = append(n, fmt.Sprintf("%s=%d", id.Name(), s.Counters[id]))
		}
	}
	if len(n) == 0 {
		return "-"
	}
	return strings.Join(n, " ")
}

// ago is how long before now t was, to the second: "5m3s ago".
func ago(t, now time.Time) string {
	d := now.Sub(t).Round(time.Second)
	if d < 0 {
		return "in " + (-d).String()
	}
	return d.String() + " ago"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// oneLine keeps a message on its line of the listing.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
