// Package metrics renders a status snapshot in the Prometheus text
// exposition format, version 0.0.4: the format node_exporter's textfile
// collector reads from files ending in ".prom", and what
// "c2cbridge status --prometheus" prints.
//
// Every series carries the label bridge="NAME" (an instance name, or the
// modem device when there is none); "instance" is left to Prometheus.
// The series are:
//
//	c2cbridge_<counter>_total                    one per counter of package counters
//	c2cbridge_session_state{state="..."}         1 for the current state, 0 for the others
//	c2cbridge_application_attached               1 while an application holds the virtual tty
//	c2cbridge_module_attached                    1 while the module's UART is open
//	c2cbridge_session_opened_timestamp_seconds   when the session entered "open" (only while open)
//	c2cbridge_last_rekey_timestamp_seconds       when the last rekey completed (only after one)
//	c2cbridge_key_file_unsaved                   1 while the key file could not be written
//	c2cbridge_info{version,fingerprint}          always 1: the frame format and the key fingerprint
//
// The fingerprint is a label of c2cbridge_info only: on the counters it
// would start new series on every rekey.
package metrics

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/c2cbridge/c2cbridge/bridge"
	"github.com/c2cbridge/c2cbridge/counters"
	"github.com/c2cbridge/c2cbridge/status"
)

// ContentType is the HTTP content type of the format Render writes.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// Prefix starts the name of every series.
const Prefix = "c2cbridge_"

// BridgeLabel is the label that names the bridge on every series.
const BridgeLabel = "bridge"

// States lists every session state, in the order c2cbridge_session_state
// reports them: the bridge's State constants.
var States = []bridge.State{
	bridge.StateStarting,
	bridge.StateOpening,
	bridge.StateUnconfirmed,
	bridge.StateOpen,
	bridge.StateRekeying,
	bridge.StateModuleRebooted,
	bridge.StateModemLost,
	bridge.StateClosing,
	bridge.StateClosed,
}

// Render writes s in the text exposition format, every series labelled
// bridge=name. It returns the first write error.
func Render(w io.Writer, s status.Snapshot, name string) error {
	bw := bufio.NewWriter(w)
	br := label(BridgeLabel, name)
	for _, id := range counters.All() {
		m := Prefix + id.Name() + "_total"
		header(bw, m, id.Help(), "counter")
		fmt.Fprintf(bw, "%s{%s} %d\n", m, br, s.Counters[id])
	}

	m := Prefix + "session_state"
	header(bw, m, "the session state: 1 for the current state, 0 for the others", "gauge")
	for _, st := range States {
		fmt.Fprintf(bw, "%s{%s,%s} %d\n", m, br, label("state", string(st)), boolValue(s.Session.State == string(st)))
	}

	gauge(bw, "application_attached", "1 while an application holds the virtual tty", br, strconv.Itoa(boolValue(s.ApplicationAttached)))
	gauge(bw, "module_attached", "1 while the module's UART is open", br, strconv.Itoa(boolValue(s.ModuleAttached)))
	if s.Session.State == string(bridge.StateOpen) && !s.Session.Since.IsZero() {
		gauge(bw, "session_opened_timestamp_seconds", "when the open session was opened, in seconds since the epoch", br, timestamp(s.Session.Since))
	}
	if s.Rekey.Last != nil && !s.Rekey.Last.IsZero() {
		gauge(bw, "last_rekey_timestamp_seconds", "when the last rekey completed, in seconds since the epoch", br, timestamp(*s.Rekey.Last))
	}
	gauge(bw, "key_file_unsaved", "1 while the key file could not be written when it had to be", br, strconv.Itoa(boolValue(s.KeyFileUnsaved)))
	gauge(bw, "info", "the session's frame format and key fingerprint; always 1",
		br+","+label("version", s.Session.Version)+","+label("fingerprint", s.Fingerprint), "1")
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}

// header writes the HELP and TYPE lines of metric m.
func header(w *bufio.Writer, m, help, typ string) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", m, escapeHelp(help), m, typ)
}

// gauge writes a gauge with one sample of the given labels and value.
func gauge(w *bufio.Writer, name, help, labels, value string) {
	m := Prefix + name
	header(w, m, help, "gauge")
	fmt.Fprintf(w, "%s{%s} %s\n", m, labels, value)
}

// label formats name="value" with the value escaped.
func label(name, value string) string {
	return name + `="` + escapeLabel(value) + `"`
}

var (
	labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
)

// escapeLabel escapes a label value as the format asks: backslash, double
// quote and line feed. Invalid UTF-8 becomes U+FFFD (the format is UTF-8).
func escapeLabel(s string) string { return labelEscaper.Replace(strings.ToValidUTF8(s, "\uFFFD")) }

// escapeHelp escapes a HELP text: backslash and line feed.
func escapeHelp(s string) string { return helpEscaper.Replace(s) }

func boolValue(b bool) int {
	if b {
		return 1
	}
	return 0
}

// timestamp formats t in seconds since the epoch, to the millisecond.
func timestamp(t time.Time) string {
	return strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', -1, 64)
}
