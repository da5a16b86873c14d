package main

// c2cbridge status: ask the running daemon for its status over the status
// socket, and the mapping from the bridge's statistics to what the socket
// reports.

import (
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/c2cbridge/c2cbridge/bridge"
	"github.com/c2cbridge/c2cbridge/config"
	"github.com/c2cbridge/c2cbridge/metrics"
	"github.com/c2cbridge/c2cbridge/status"
)

// statusTimeout bounds the exchange with the daemon's status socket.
const statusTimeout = 5 * time.Second

// cmdStatus implements "c2cbridge status [--config FILE] [--json]": it
// prints the running daemon's status, as text or (--json) as the JSON
// object the status socket sent. The socket is found as run places it:
// status.socket of the configuration when --config is given and sets it,
// else status.SocketPath(""). Without --config no configuration file is
// read. It returns 1 with a one-line error when the daemon cannot be
// reached.
func cmdStatus(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var path string
	fs.StringVar(&path, "config", "", "configuration `FILE` whose status.socket to query (default: the standard socket)")
	fs.StringVar(&path, "c", "", "configuration `FILE` (short for --config)")
	asJSON := fs.Bool("json", false, "print the status socket's JSON object")
	asPrometheus := fs.Bool("prometheus", false, "print the status in the Prometheus text format, as metrics.textfile holds it")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "c2cbridge status: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	configured, bridgeName := "", ""
	if path != "" {
		cfg, err := config.Load(path)
		if err != nil {
			return fail(stderr, err)
		}
		configured, bridgeName = cfg.Status.Socket, cfg.Modem.Device
	}
	snap, raw, err := status.Query(status.SocketPath(configured), statusTimeout)
	if err != nil {
		return fail(stderr, err)
	}
	if *asJSON {
		if _, err := stdout.Write(raw); err != nil {
			return fail(stderr, fmt.Errorf("write status: %w", err))
		}
		return 0
	}
	if *asPrometheus {
		// The label bridge= is the modem device, as run writes it: known
		// with --config only (the snapshot does not name the device).
		if err := metrics.Render(stdout, snap, bridgeName); err != nil {
			return fail(stderr, err)
		}
		return 0
	}
	if err := status.Format(stdout, snap); err != nil {
		return fail(stderr, err)
	}
	return 0
}

// snapshotFromBridge maps the bridge's statistics and whether an
// application holds the virtual tty (ptyside.PTY.Attached) to what the
// status socket reports.
func snapshotFromBridge(st bridge.Stats, attached bool) status.Snapshot {
	return status.Snapshot{
		Session: status.Session{
			State:   string(st.State),
			Version: st.Version.String(),
			Since:   st.Since,
		},
		Rekey:               status.Rekey{Last: statusTime(st.LastRekey), Next: statusTime(st.NextRekey)},
		ApplicationAttached: attached,
		ModuleAttached:      st.ModemUp,
		Fingerprint:         st.Fingerprint,
		KeyFileUnsaved:      st.KeyFileUnsaved,
		Counters:            st.Counters,
	}
}

// statusText is the one-line status for systemd (sdnotify STATUS=), shown
// by systemctl status: "session open, V2, fingerprint 1a2b3c4d".
func statusText(st bridge.Stats) string {
	text := "session " + string(st.State) + ", " + st.Version.String() + ", fingerprint " + st.Fingerprint
	if !st.ModemUp {
		text += ": waiting for the modem"
	}
	if st.KeyFileUnsaved {
		text += ", key file not saved"
	}
	return text
}

// statusTime returns nil for the zero time (null in JSON), else &t.
func statusTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
