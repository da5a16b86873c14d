package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
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
