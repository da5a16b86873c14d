package main

// log.format journal: a slog.Handler that writes each record to the
// systemd journal through its native protocol, with the bridge's own
// fields (C2C_STATE, C2C_FINGERPRINT, C2C_DEVICE, C2C_INSTANCE) that
// journalctl can match on.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"unicode"

	"golang.org/x/sys/unix"
)

// journalSocket is where journald reads native protocol datagrams.
const journalSocket = "/run/systemd/journal/socket"

// journalIdentifier is the records' SYSLOG_IDENTIFIER (journalctl -t).
const journalIdentifier = "c2cbridge"

// journalFields maps the log attributes the bridge uses to the journal
// fields they also become.
var journalFields = map[string]string{
	"state":       "C2C_STATE",
	"fingerprint": "C2C_FINGERPRINT",
	"device":      "C2C_DEVICE",
	"instance":    "C2C_INSTANCE",
}

// journalHandler is a slog.Handler that sends each record as one datagram
// (a memfd for a record too large for one) of the journal's native protocol: MESSAGE (the message followed by its
// attributes as key=value, as the text format writes them), PRIORITY
// (syslog's: 7 debug, 6 info, 4 warn, 3 error), SYSLOG_IDENTIFIER, and a
// C2C_ field for each attribute of journalFields.
type journalHandler struct {
	conn   *net.UnixConn // shared by the handlers WithAttrs and WithGroup derive
	level  slog.Leveler
	prefix string      // the open groups, "a.b."
	attrs  []slog.Attr // from WithAttrs, keys already prefixed
}

var _ slog.Handler = (*journalHandler)(nil)

// newJournalHandler connects to the journal's socket at path. instance,
// if not empty, is every record's C2C_INSTANCE.
func newJournalHandler(path string, level slog.Leveler, instance string) (*journalHandler, error) {
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return nil, fmt.Errorf("journal socket: %w", err)
	}
	h := &journalHandler{conn: conn, level: level}
	if instance != "" {
		h.attrs = []slog.Attr{slog.String("instance", instance)}
	}
	return h, nil
}

// Enabled reports whether level is at least the handler's level.
func (h *journalHandler) Enabled(_ context.Context, level slog.Level) bool {
	return level >= h.level.Level()
}

// WithAttrs returns a handler that adds attrs to every record.
func (h *journalHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	h2 := *h
	h2.attrs = append([]slog.Attr(nil), h.attrs...)
	for _, a := range attrs {
		a.Key = h.prefix + a.Key
		h2.attrs = append(h2.attrs, a)
	}
	return &h2
}

// WithGroup returns a handler that qualifies later attributes with name.
func (h *journalHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	h2 := *h
	h2.prefix = h.prefix + name + "."
	return &h2
}

// Handle sends r to the journal as one datagram.
func (h *journalHandler) Handle(_ context.Context, r slog.Record) error {
	var msg strings.Builder
	msg.WriteString(r.Message)
	fields := map[string]string{}
	add := func(a slog.Attr) { appendAttr(&msg, fields, "", a) }
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(func(a slog.Attr) bool {
		a.Key = h.prefix + a.Key
		add(a)
		return true
	})
	var d []byte
	d = appendJournalField(d, "MESSAGE", msg.String())
	d = appendJournalField(d, "PRIORITY", strconv.Itoa(journalPriority(r.Level)))
	d = appendJournalField(d, "SYSLOG_IDENTIFIER", journalIdentifier)
	for _, key := range []string{"state", "fingerprint", "device", "instance"} {
		if v, ok := fields[key]; ok {
			d = appendJournalField(d, journalFields[key], v)
		}
	}
	if err := h.send(d); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	return nil
}

// send writes one record. A record larger than a datagram may be (the
// socket says EMSGSIZE) goes as journald takes it: written to a sealed
// memfd whose descriptor is passed alone (SCM_RIGHTS) in an empty
// datagram.
func (h *journalHandler) send(d []byte) error {
	_, err := h.conn.Write(d)
	if !errors.Is(err, syscall.EMSGSIZE) && !errors.Is(err, syscall.ENOBUFS) {
		return err
	}
	fd, err := unix.MemfdCreate("c2cbridge-journal", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return fmt.Errorf("a %d-byte record: memfd: %w", len(d), err)
	}
	f := os.NewFile(uintptr(fd), "c2cbridge-journal")
	defer f.Close()
	if _, err := f.Write(d); err != nil {
		return fmt.Errorf("a %d-byte record: write memfd: %w", len(d), err)
	}
	// journald accepts only a sealed memfd: it must not change under it.
	if _, err := unix.FcntlInt(f.Fd(), unix.F_ADD_SEALS,
		unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_WRITE|unix.F_SEAL_SEAL); err != nil {
		return fmt.Errorf("a %d-byte record: seal memfd: %w", len(d), err)
	}
	// WriteMsgUnix refuses a connected datagram socket: sendmsg directly.
	rc, err := h.conn.SyscallConn()
	if err != nil {
		return fmt.Errorf("a %d-byte record: %w", len(d), err)
	}
	rights := unix.UnixRights(int(f.Fd()))
	var sendErr error
	if err := rc.Write(func(fd uintptr) bool {
		sendErr = unix.Sendmsg(int(fd), nil, rights, nil, 0)
		return !errors.Is(sendErr, unix.EAGAIN)
	}); err != nil {
		sendErr = err
	}
	if sendErr != nil {
		return fmt.Errorf("a %d-byte record: pass memfd: %w", len(d), sendErr)
	}
	return nil
}

// appendAttr writes a as " key=value" to msg (groups flattened to
// "group.key") and records the value of a top-level key in fields.
func appendAttr(msg *strings.Builder, fields map[string]string, prefix string, a slog.Attr) {
	v := a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return
	}
	key := prefix + a.Key
	if v.Kind() == slog.KindGroup {
		p := prefix
		if a.Key != "" {
			p = key + "."
		}
		for _, g := range v.Group() {
			appendAttr(msg, fields, p, g)
		}
		return
	}
	s := v.String()
	if _, ok := journalFields[key]; ok {
		fields[key] = s
	}
	msg.WriteString(" " + key + "=" + quoteIfNeeded(s))
}

// quoteIfNeeded quotes s as Go does when it is empty or holds a space, a
// quote, an '=' or a character that is not printable, as the text format
// does.
func quoteIfNeeded(s string) string {
	if s == "" || strings.IndexFunc(s, func(r rune) bool {
		return r == ' ' || r == '"' || r == '=' || !unicode.IsPrint(r)
	}) >= 0 {
		return strconv.Quote(s)
	}
	return s
}

// appendJournalField appends one field in the native protocol: NAME=value
// and a line feed, or, for a value that holds a line feed, NAME, a line
// feed, the value's length as a little-endian uint64, the value and a
// line feed.
func appendJournalField(d []byte, name, value string) []byte {
	if !strings.Contains(value, "\n") {
		return append(append(append(append(d, name...), '='), value...), '\n')
	}
	d = append(append(d, name...), '\n')
	d = binary.LittleEndian.AppendUint64(d, uint64(len(value)))
	return append(append(d, value...), '\n')
}

// journalPriority maps a slog level to a syslog priority.
func journalPriority(l slog.Level) int {
	switch {
	case l >= slog.LevelError:
		return 3
	case l >= slog.LevelWarn:
		return 4
	case l >= slog.LevelInfo:
		return 6
	}
	return 7
}

// stderrIsJournal reports whether w is the stream systemd connected to
// the journal: a file whose device and inode are those JOURNAL_STREAM
// ("DEVICE:INODE") names.
func stderrIsJournal(w io.Writer) bool {
	f, ok := w.(*os.File)
	env := os.Getenv("JOURNAL_STREAM")
	if !ok || env == "" {
		return false
	}
	dev, ino, ok := strings.Cut(env, ":")
	if !ok {
		return false
	}
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return false
	}
	return dev == strconv.FormatUint(uint64(st.Dev), 10) && ino == strconv.FormatUint(uint64(st.Ino), 10)
}

// resolveLogFormat turns log.format auto into journal when w is the
// journal's stream, else text; other formats are returned as they are.
func resolveLogFormat(format string, w io.Writer) string {
	if format != "auto" {
		return format
	}
	if stderrIsJournal(w) {
		return "journal"
	}
	return "text"
}
