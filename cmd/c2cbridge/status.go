package main

// c2cbridge status: ask the running daemon for its status over the status
// socket, and the mapping from the bridge's statistics to what the socket
// reports.

import (
	"encoding/json"
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

// cmdStatus implements "c2cbridge status": it prints the running
// daemon's status, as text, as the JSON object the status socket sent
// (--json) or in the Prometheus text format (--prometheus). The socket is
// found as run places it: status.socket of --config FILE when it sets it;
// an instance's runtime directory with --instance NAME
// (/run/c2cbridge-NAME/status.sock); else status.SocketPath(""). With
// --all it asks every daemon whose socket is under /run/c2cbridge*/ and
// prints a line each (--json: an array of the objects, each with its
// "instance"). Without --config no configuration file is read. It returns
// 1 with a one-line error when the daemon cannot be reached (with --all:
// when none can).
func cmdStatus(args []string, stdout, stderr io.Writer) int {
	return runStatus(status.RunDir, args, stdout, stderr)
}

// runStatus is cmdStatus with the directory that holds the runtime
// directories passed in.
func runStatus(runDir string, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var path string
	fs.StringVar(&path, "config", "", "configuration `FILE` whose status.socket to query (default: the standard socket)")
	fs.StringVar(&path, "c", "", "configuration `FILE` (short for --config)")
	instance := fs.String("instance", "", "query the instance `NAME` of c2cbridge@.service (its socket in /run/c2cbridge-NAME/)")
	all := fs.Bool("all", false, "list every running daemon (the single service and every instance), a line each")
	asJSON := fs.Bool("json", false, "print the status socket's JSON object (with --all: an array of them)")
	asPrometheus := fs.Bool("prometheus", false, "print the status in the Prometheus text format, as metrics.textfile holds it")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "c2cbridge status: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	picked := 0
	for _, set := range []bool{path != "", *instance != "", *all} {
		if set {
			picked++
		}
	}
	if picked > 1 {
		fmt.Fprintln(stderr, "c2cbridge status: --config, --instance and --all choose the daemon: give one of them")
		return 2
	}
	if *asJSON && *asPrometheus {
		fmt.Fprintln(stderr, "c2cbridge status: --json and --prometheus: give one of them")
		return 2
	}
	if *all {
		if *asPrometheus {
			fmt.Fprintln(stderr, "c2cbridge status: --all --prometheus is not supported: each instance writes its own metrics.textfile (or use --instance NAME --prometheus)")
			return 2
		}
		return statusAll(runDir, *asJSON, stdout, stderr)
	}
	socket := status.SocketPath("")
	switch {
	case path != "":
		cfg, err := config.Load(path)
		if err != nil {
			return fail(stderr, err)
		}
		socket = status.SocketPath(cfg.Status.Socket)
	case *instance != "":
		var err error
		if socket, err = status.InstanceSocket(runDir, *instance); err != nil {
			return fail(stderr, fmt.Errorf("--instance %w", err))
		}
	}
	snap, raw, err := status.Query(socket, statusTimeout)
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
		if err := metrics.Render(stdout, snap, snap.Name()); err != nil {
			return fail(stderr, err)
		}
		return 0
	}
	if err := status.Format(stdout, snap); err != nil {
		return fail(stderr, err)
	}
	return 0
}

// statusAll implements status --all: every daemon with a socket under
// runDir, asked one after the other.
func statusAll(runDir string, asJSON bool, stdout, stderr io.Writer) int {
	found, err := status.Instances(runDir)
	if err != nil {
		return fail(stderr, err)
	}
	if len(found) == 0 {
		return fail(stderr, fmt.Errorf("is c2cbridge running? no status socket in %s/%s/ or %s/%s*/",
			runDir, status.RuntimeDirName, runDir, status.InstanceDirPrefix))
	}
	list := make([]status.Listed, 0, len(found))
	reached := 0
	for _, f := range found {
		snap, _, err := status.Query(f.Socket, statusTimeout)
		if err == nil {
			reached++
			snap.Instance = f.Instance
		}
		list = append(list, status.Listed{Instance: f.Instance, Snapshot: snap, Err: err})
	}
	if asJSON {
		out := make([]status.Snapshot, 0, reached)
		for _, l := range list {
			if l.Err != nil {
				fmt.Fprintf(stderr, "c2cbridge status: instance %q: %v\n", l.Instance, l.Err)
				continue
			}
			out = append(out, l.Snapshot)
		}
		if err := writeJSONArray(stdout, out); err != nil {
			return fail(stderr, err)
		}
	} else if err := status.FormatList(stdout, list); err != nil {
		return fail(stderr, err)
	}
	if reached == 0 {
		return 1
	}
	return 0
}

// writeJSONArray writes snaps as one indented JSON array; each element
// names its instance ("instance": "" for the single service).
func writeJSONArray(w io.Writer, snaps []status.Snapshot) error {
	type withInstance struct {
		Instance string `json:"instance"`
		status.Snapshot
	}
	out := make([]withInstance, len(snaps))
	for i, s := range snaps {
		out[i] = withInstance{Instance: s.Instance, Snapshot: s}
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return fmt.Errorf("status --all --json: %w", err)
	}
	if _, err := w.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("write status: %w", err)
	}
	return nil
}

// snapshotFromBridge maps the bridge's statistics, whether an
// application holds the virtual tty (ptyside.PTY.Attached), the instance
// name and the modem device to what the status socket reports.
func snapshotFromBridge(st bridge.Stats, attached bool, instance, device string) status.Snapshot {
	return status.Snapshot{
		Instance: instance,
		Device:   device,
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
