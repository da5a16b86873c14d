package ttylink

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// testLog returns a logger that writes into the returned buffer.
func testLog() (*slog.Logger, *bytes.Buffer) {
	var buf bytes.Buffer
	return slog.New(slog.NewTextHandler(&buf, nil)), &buf
}

func TestCreate(t *testing.T) {
	const target = "/dev/pts/42"
	for _, tc := range []struct {
		name    string
		setup   func(t *testing.T, link string)
		err     error  // errors.Is; nil: success
		errText string // in the error text
		logged  string // in the log
	}{
		{name: "nothing there", setup: func(*testing.T, string) {}},
		{name: "stale symlink", setup: func(t *testing.T, link string) {
			mustSymlink(t, "/dev/pts/7", link)
		}, logged: "replacing stale link"},
		{name: "dangling symlink", setup: func(t *testing.T, link string) {
			mustSymlink(t, filepath.Join(filepath.Dir(link), "gone"), link)
		}, logged: "replacing stale link"},
		{name: "stale symlink and a temporary link left by a crash", setup: func(t *testing.T, link string) {
			mustSymlink(t, "/dev/pts/7", link)
			mustSymlink(t, "/dev/pts/8", filepath.Join(filepath.Dir(link), fmt.Sprintf(".%s.%d.tmp", filepath.Base(link), os.Getpid())))
		}, logged: "replacing stale link"},
		{name: "regular file", setup: func(t *testing.T, link string) {
			if err := os.WriteFile(link, []byte("keep"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, err: ErrOccupied, errText: "(found a regular file); refusing to replace it"},
		{name: "directory", setup: func(t *testing.T, link string) {
			if err := os.Mkdir(link, 0o700); err != nil {
				t.Fatal(err)
			}
		}, err: ErrOccupied, errText: "(found a directory)"},
		{name: "named pipe", setup: func(t *testing.T, link string) {
			if err := syscall.Mkfifo(link, 0o600); err != nil {
				t.Skip(err)
			}
		}, err: ErrOccupied, errText: "(found a named pipe)"},
		{name: "missing directory", setup: func(t *testing.T, link string) {
			if err := os.Remove(filepath.Dir(link)); err != nil {
				t.Fatal(err)
			}
		}, err: fs.ErrNotExist, errText: "create link: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "dev")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			link := filepath.Join(dir, "ttyC2C0")
			tc.setup(t, link)
			before, _ := os.Lstat(link)
			log, buf := testLog()

			err := Create(link, target, log)
			if tc.err != nil {
				if !errors.Is(err, tc.err) || !strings.Contains(err.Error(), tc.errText) {
					t.Fatalf("Create = %v, want %v with %q", err, tc.err, tc.errText)
				}
				if after, _ := os.Lstat(link); before != nil && (after == nil || !os.SameFile(before, after)) {
					t.Error("a refused Create changed what was at the link path")
				}
				return
			}
			if err != nil {
				t.Fatalf("Create: %v", err)
			}
			if got, err := os.Readlink(link); err != nil || got != target {
				t.Errorf("link reads %q, %v; want %q", got, err, target)
			}
			if !strings.Contains(buf.String(), tc.logged) {
				t.Errorf("log %q, want %q", buf.String(), tc.logged)
			}
			if tc.logged == "" && buf.Len() > 0 {
				t.Errorf("logged %q for a new link", buf.String())
			}
			entries, _ := os.ReadDir(dir)
			if len(entries) != 1 {
				t.Errorf("directory holds %d entries, want only the link", len(entries))
			}
		})
	}
}

func TestRemove(t *testing.T) {
	const target = "/dev/pts/42"
	for _, tc := range []struct {
		name   string
		setup  func(t *testing.T, link string)
		stays  bool   // the link path still exists afterwards
		logged string // in the log
	}{
		{name: "ours", setup: func(t *testing.T, link string) { mustSymlink(t, target, link) }},
		{name: "gone", setup: func(*testing.T, string) {}},
		{name: "points elsewhere", setup: func(t *testing.T, link string) {
			mustSymlink(t, "/dev/pts/7", link)
		}, stays: true, logged: "link points elsewhere, not removing it"},
		{name: "replaced by a regular file", setup: func(t *testing.T, link string) {
			if err := os.WriteFile(link, nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}, stays: true, logged: "link changed, not removing it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			link := filepath.Join(t.TempDir(), "ttyC2C0")
			tc.setup(t, link)
			log, buf := testLog()
			if err := Remove(link, target, log); err != nil {
				t.Fatalf("Remove: %v", err)
			}
			_, err := os.Lstat(link)
			if stays := err == nil; stays != tc.stays {
				t.Errorf("link path exists afterwards: %v, want %v", stays, tc.stays)
			}
			if !strings.Contains(buf.String(), tc.logged) {
				t.Errorf("log %q, want %q", buf.String(), tc.logged)
			}
		})
	}
}

func mustSymlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}
