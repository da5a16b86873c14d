package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// fakeJournal listens on a unix datagram socket in a temp dir, as
// journald does on /run/systemd/journal/socket.
func fakeJournal(t *testing.T) (string, *net.UnixConn) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "socket")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return path, conn
}

// readEntry reads one datagram and parses its native-protocol fields.
func readEntry(t *testing.T, conn *net.UnixConn) map[string]string {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 1<<16)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	fields, err := parseJournalEntry(buf[:n])
	if err != nil {
		t.Fatalf("%v in %q", err, buf[:n])
	}
	return fields
}

func parseJournalEntry(d []byte) (map[string]string, error) {
	out := map[string]string{}
	for len(d) > 0 {
		nl := bytes.IndexByte(d, '\n')
		if nl < 0 {
			return nil, errors.New("no final line feed")
		}
		line := d[:nl]
		if name, value, ok := bytes.Cut(line, []byte("=")); ok {
			out[string(name)] = string(value)
			d = d[nl+1:]
			continue
		}
		d = d[nl+1:]
		if len(d) < 8 {
			return nil, errors.New("short length")
		}
		n := binary.LittleEndian.Uint64(d)
		d = d[8:]
		if uint64(len(d)) < n+1 || d[n] != '\n' {
			return nil, fmt.Errorf("field %s: bad length %d", line, n)
		}
		out[string(line)] = string(d[:n])
		d = d[n+1:]
	}
	return out, nil
}

func TestJournalHandler(t *testing.T) {
	path, conn := fakeJournal(t)
	lv := new(slog.LevelVar)
	h, err := newJournalHandler(path, lv, "modem1")
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(h)
	tests := []struct {
		name   string
		log    func()
		fields map[string]string
		absent []string
	}{
		{"info with the bridge's attributes", func() {
			log.Info("secure session open", "device", "/dev/ttyUSB0", "version", "V2", "fingerprint", "1a2b3c4d")
		}, map[string]string{
			"MESSAGE":           "secure session open instance=modem1 device=/dev/ttyUSB0 version=V2 fingerprint=1a2b3c4d",
			"PRIORITY":          "6",
			"SYSLOG_IDENTIFIER": "c2cbridge",
			"C2C_DEVICE":        "/dev/ttyUSB0",
			"C2C_FINGERPRINT":   "1a2b3c4d",
			"C2C_INSTANCE":      "modem1",
		}, []string{"C2C_STATE", "C2C_VERSION"}},
		{"warn with a state, via With", func() {
			log.With("state", "module lost").Warn("modem connection lost; reconnecting", "err", errors.New("read: EOF"))
		}, map[string]string{
			"MESSAGE":   `modem connection lost; reconnecting instance=modem1 state="module lost" err="read: EOF"`,
			"PRIORITY":  "4",
			"C2C_STATE": "module lost",
		}, []string{"C2C_DEVICE", "C2C_FINGERPRINT"}},
		{"error, a line feed in the message", func() {
			log.Error("two\nlines")
		}, map[string]string{"MESSAGE": "two\nlines instance=modem1", "PRIORITY": "3"}, nil},
		{"a grouped key is not a C2C field", func() {
			log.WithGroup("side").Info("x", "device", "/dev/pts/3")
		}, map[string]string{"MESSAGE": "x instance=modem1 side.device=/dev/pts/3"}, []string{"C2C_DEVICE"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.log()
			got := readEntry(t, conn)
			for k, want := range tc.fields {
				if got[k] != want {
					t.Errorf("%s = %q, want %q", k, got[k], want)
				}
			}
			for _, k := range tc.absent {
				if v, ok := got[k]; ok {
					t.Errorf("%s = %q, want none", k, v)
				}
			}
		})
	}
	// Below the level, nothing is sent.
	log.Debug("hidden")
	lv.Set(slog.LevelDebug)
	log.Debug("shown")
	if got := readEntry(t, conn); got["MESSAGE"] != "shown instance=modem1" || got["PRIORITY"] != "7" {
		t.Errorf("debug entry %v", got)
	}
}

func TestJournalHandlerNoSocket(t *testing.T) {
	if _, err := newJournalHandler(filepath.Join(t.TempDir(), "none"), slog.LevelInfo, ""); err == nil {
		t.Fatal("no error without a journal socket")
	}
	// Without the journal, newLevelLogger falls back to text and says so.
	if _, err := os.Stat(journalSocket); err == nil {
		t.Skip("this machine has a journal at " + journalSocket)
	}
	var buf bytes.Buffer
	log, _ := newLevelLogger(&buf, "info", "journal")
	log.Info("hello")
	if !bytes.Contains(buf.Bytes(), []byte("cannot reach the journal")) || !bytes.Contains(buf.Bytes(), []byte("msg=hello")) {
		t.Errorf("fallback logger wrote %q", buf.String())
	}
}

func TestResolveLogFormat(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	here := strconv.FormatUint(uint64(st.Dev), 10) + ":" + strconv.FormatUint(uint64(st.Ino), 10)
	other := strconv.FormatUint(uint64(st.Dev), 10) + ":" + strconv.FormatUint(uint64(st.Ino)+1, 10)
	tests := []struct {
		env, format, want string
		w                 any
	}{
		{here, "auto", "journal", f},
		{other, "auto", "text", f},
		{"", "auto", "text", f},
		{"garbage", "auto", "text", f},
		{here, "auto", "text", &bytes.Buffer{}},
		{here, "text", "text", f},
		{here, "json", "json", f},
		{"", "journal", "journal", f},
	}
	for _, tc := range tests {
		t.Setenv("JOURNAL_STREAM", tc.env)
		w := tc.w.(interface{ Write([]byte) (int, error) })
		if got := resolveLogFormat(tc.format, w); got != tc.want {
			t.Errorf("JOURNAL_STREAM=%q, %s on %T: %s, want %s", tc.env, tc.format, tc.w, got, tc.want)
		}
	}
}

// TestJournalHandlerLargeRecord checks that a record larger than a
// datagram may be reaches the journal as journald takes it: a sealed
// memfd passed in an empty datagram.
func TestJournalHandlerLargeRecord(t *testing.T) {
	path, conn := fakeJournal(t)
	h, err := newJournalHandler(path, new(slog.LevelVar), "")
	if err != nil {
		t.Fatal(err)
	}
	// A small send buffer makes EMSGSIZE certain whatever the machine's
	// limits.
	if err := h.conn.SetWriteBuffer(4096); err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("x", 512<<10)
	done := make(chan struct{})
	go func() {
		defer close(done)
		slog.New(h).Info("big", "blob", big)
	}()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf, oob := make([]byte, 16), make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	<-done
	if err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("the datagram carries %d bytes, want none (the record is in the memfd)", n)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		t.Fatalf("control messages %v, %v", msgs, err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		t.Fatalf("rights %v, %v", fds, err)
	}
	f := os.NewFile(uintptr(fds[0]), "memfd")
	defer f.Close()
	seals, err := unix.FcntlInt(f.Fd(), unix.F_GET_SEALS, 0)
	if err != nil || seals&unix.F_SEAL_WRITE == 0 {
		t.Errorf("the memfd is not sealed against writes: %#x, %v", seals, err)
	}
	// journald maps the whole file; the offset the writer left is not its
	// concern.
	data, err := io.ReadAll(io.NewSectionReader(f, 0, 1<<30))
	if err != nil {
		t.Fatal(err)
	}
	fields, err := parseJournalEntry(data)
	if err != nil {
		t.Fatal(err)
	}
	if fields["MESSAGE"] != "big blob="+big || fields["PRIORITY"] != "6" {
		t.Errorf("record of %d bytes: MESSAGE has %d bytes", len(data), len(fields["MESSAGE"]))
	}
}
