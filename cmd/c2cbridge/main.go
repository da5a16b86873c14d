// Command c2cbridge bridges a plaintext virtual tty to a u-blox SARA-R5
// whose AT interface is locked with local chip-to-chip (C2C) security.
//
//	c2cbridge run --config FILE      run the bridge (the systemd service)
//	c2cbridge pair --config FILE     pair with the module (once per device)
//	c2cbridge keys check -c FILE     check the key file
//	c2cbridge status [--json]        the running daemon's status
//	c2cbridge status --all           every running daemon, a line each
//	c2cbridge demo                   the bridge in front of a simulated modem
//	c2cbridge simulate --link PATH   a simulated SARA-R5 on a pty
//	c2cbridge gadget up|down -c FILE a USB gadget with one ACM port (configfs)
//	c2cbridge version                print the version
//	c2cbridge help                   this text
package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
)

// version is set at build time with -ldflags "-X main.version=..." to
// packaging/version's output (packaging/deb/build does); without it,
// versionString falls back to the build's VCS information.
var version string

const usage = `c2cbridge: a plaintext virtual tty in front of a C2C-secured u-blox SARA-R5

Usage:
  c2cbridge run --config FILE [--instance NAME]
                                     run the bridge (-c FILE); NAME: of c2cbridge@NAME.service
  c2cbridge pair --config FILE [--force] [--retries N]
                                     pair with the module, write keys.file
  c2cbridge keys check --config FILE check the key file, print its fingerprint
  c2cbridge status [--json|--prometheus] [-c FILE | --instance NAME]
                                     print the running daemon's status (-c FILE: use its status.socket)
  c2cbridge status --all [--json]    list every running daemon (the service and each c2cbridge@ instance)
  c2cbridge demo                     run the bridge in front of a simulated modem
  c2cbridge simulate --link PATH ... run a simulated SARA-R5 on a pty
  c2cbridge gadget up|down --config FILE
                                     create/remove the USB gadget (one ACM port) of the gadget: section
  c2cbridge version                  print the version
  c2cbridge help                     print this text

Run "c2cbridge COMMAND -h" for the flags of a command.
`

func main() {
	os.Exit(runMain(os.Args[1:], os.Stdout, os.Stderr))
}

// runMain dispatches a command line and returns the exit status: 0 on
// success, 1 when the command failed, 2 for a usage error.
func runMain(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "run":
		return cmdRun(rest, stdout, stderr)
	case "demo":
		return cmdDemo(rest, stdout, stderr)
	case "simulate":
		return cmdSimulate(rest, stdout, stderr)
	case "status":
		return cmdStatus(rest, stdout, stderr)
	case "pair":
		return cmdPair(rest, stdout, stderr)
	case "keys":
		return cmdKeys(rest, stdout, stderr)
	case "gadget":
		return cmdGadget(rest, stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "c2cbridge", versionString())
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "c2cbridge: unknown command %q\n\n%s", cmd, usage)
	return 2
}

// fail prints one line that says what went wrong and returns exit status 1.
func fail(stderr io.Writer, err error) int {
	fmt.Fprintf(stderr, "c2cbridge: %v\n", err)
	return 1
}

// newLogger makes the process logger from log.level and log.format (auto,
// text, json or journal; see resolveLogFormat).
func newLogger(w io.Writer, level, format string) *slog.Logger {
	l, _ := newLevelLogger(w, level, format)
	return l
}

// newLevelLogger is newLogger with the level in a LevelVar, so SIGHUP can
// change it.
func newLevelLogger(w io.Writer, level, format string) (*slog.Logger, *slog.LevelVar) {
	return newInstanceLogger(w, level, format, "")
}

// newInstanceLogger is newLevelLogger for the instance named instance
// (run --instance): every record carries it (C2C_INSTANCE in the
// journal, instance= in text and JSON).
func newInstanceLogger(w io.Writer, level, format, instance string) (*slog.Logger, *slog.LevelVar) {
	lv := new(slog.LevelVar)
	lv.Set(parseLevel(level))
	opts := &slog.HandlerOptions{Level: lv}
	switch resolveLogFormat(format, w) {
	case "json":
		return withInstance(slog.New(slog.NewJSONHandler(w, opts)), instance), lv
	case "journal":
		h, err := newJournalHandler(journalSocket, lv, instance)
		if err == nil {
			return slog.New(h), lv
		}
		l := withInstance(slog.New(slog.NewTextHandler(w, opts)), instance)
		l.Warn("log.format journal: cannot reach the journal; logging text to stderr", "err", err)
		return l, lv
	}
	return withInstance(slog.New(slog.NewTextHandler(w, opts)), instance), lv
}

// withInstance adds instance= to every record of l, when there is one.
func withInstance(l *slog.Logger, instance string) *slog.Logger {
	if instance == "" {
		return l
	}
	return l.With("instance", instance)
}

// parseLevel maps log.level to a slog level (info for anything unknown;
// the configuration is validated before).
func parseLevel(level string) slog.Level {
	switch strings.ToLower(level) {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}
