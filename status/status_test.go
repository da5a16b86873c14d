package status_test

import (
	"encoding/json"
	"errors"
	"io/fs"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/c2cbridge/c2cbridge/counters"
	"github.com/c2cbridge/c2cbridge/status"
)

// queryTimeout only keeps a broken test from hanging.
const queryTimeout = 10 * time.Second

func sample() status.Snapshot {
	last := time.Date(2025, 6, 1, 9, 0, 0, 0, time.UTC)
	next := time.Date(2025, 6, 2, 9, 0, 0, 0, time.UTC)
	return status.Snapshot{
		Session:             status.Session{State: "open", Version: "V2", Since: time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC)},
		Rekey:               status.Rekey{Last: &last, Next: &next},
		ApplicationAttached: true,
		ModuleAttached:      true,
		Fingerprint:         "1a2b3c4d",
		Counters: status.Counters{
			counters.AppBytesUp: 1, counters.AppBytesDown: 2, counters.LineBytesUp: 3, counters.LineBytesDown: 4, counters.FramesUp: 5, counters.FramesDown: 6,
			counters.MACFailures: 7, counters.FCSFailures: 8, counters.LengthErrors: 9, counters.OtherRejects: 10, counters.StrayBytes: 11, counters.PlainDropped: 12,
			counters.Replays: 13, counters.RefusedCommands: 14, counters.Opens: 15, counters.Rekeys: 16, counters.RekeysOverdue: 17, counters.Reopens: 18, counters.Reconnects: 19,
		},
	}
}

func listen(t *testing.T, path, group string, provider func() status.Snapshot) *status.Server {
	t.Helper()
	s, err := status.Listen(path, group, provider)
	if err != nil {
		t.Fatalf("Listen(%s, %q): %v", path, group, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// contractFields are the JSON fields scripts may rely on, with the JSON
// type each has in sample().
var contractFields = []struct {
	path []string
	kind string
}{
	{[]string{"session", "state"}, "string"},
	{[]string{"session", "version"}, "string"},
	{[]string{"session", "since"}, "time"},
	{[]string{"rekey", "last"}, "time"},
	{[]string{"rekey", "next"}, "time"},
	{[]string{"application_attached"}, "bool"},
	{[]string{"module_attached"}, "bool"},
	{[]string{"fingerprint"}, "string"},
	{[]string{"key_file_unsaved"}, "bool"},
	{[]string{"counters", "app_bytes_up"}, "number"},
	{[]string{"counters", "app_bytes_down"}, "number"},
	{[]string{"counters", "line_bytes_up"}, "number"},
	{[]string{"counters", "line_bytes_down"}, "number"},
	{[]string{"counters", "frames_up"}, "number"},
	{[]string{"counters", "frames_down"}, "number"},
	{[]string{"counters", "mac_failures"}, "number"},
	{[]string{"counters", "fcs_failures"}, "number"},
	{[]string{"counters", "length_errors"}, "number"},
	{[]string{"counters", "other_rejects"}, "number"},
	{[]string{"counters", "stray_bytes"}, "number"},
	{[]string{"counters", "plain_dropped"}, "number"},
	{[]string{"counters", "replays"}, "number"},
	{[]string{"counters", "refused_commands"}, "number"},
	{[]string{"counters", "opens"}, "number"},
	{[]string{"counters", "rekeys"}, "number"},
	{[]string{"counters", "rekeys_overdue"}, "number"},
	{[]string{"counters", "reopens"}, "number"},
	{[]string{"counters", "reconnects"}, "number"},
	{[]string{"counters", "app_overruns"}, "number"},
}

// checkContract fails t unless raw has every contract field with its type.
func checkContract(t *testing.T, raw []byte) {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("answer is not a JSON object: %v\n%s", err, raw)
	}
	for _, f := range contractFields {
		var v any = doc
		for _, k := range f.path {
			m, ok := v.(map[string]any)
			if !ok {
				t.Errorf("%s: parent is not an object", strings.Join(f.path, "."))
				break
			}
			if v, ok = m[k]; !ok {
				t.Errorf("%s: missing", strings.Join(f.path, "."))
				break
			}
		}
		ok := false
		switch x := v.(type) {
		case string:
			if f.kind == "time" {
				_, err := time.Parse(time.RFC3339, x)
				ok = err == nil
			} else {
				ok = f.kind == "string"
			}
		case bool:
			ok = f.kind == "bool"
		case float64:
			ok = f.kind == "number"
		}
		if !ok {
			t.Errorf("%s = %#v, want a %s", strings.Join(f.path, "."), v, f.kind)
		}
	}
}

func TestServeAndQuery(t *testing.T) {
	path := filepath.Join(t.TempDir(), "status.sock")
	var calls atomic.Int64
	want := sample()
	listen(t, path, "", func() status.Snapshot { calls.Add(1); return want })
	got, raw, err := status.Query(path, queryTimeout)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Query() = %+v\nwant %+v", got, want)
	}
	checkContract(t, raw)
	if !strings.HasPrefix(string(raw), "{\n  \"session\"") || !strings.HasSuffix(string(raw), "}\n") {
		t.Errorf("answer is not one indented JSON object:\n%s", raw)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("provider called %d times for one connection", n)
	}
}

func TestNullRekeyTimes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "status.sock")
	listen(t, path, "", func() status.Snapshot { return status.Snapshot{Session: status.Session{State: "opening"}} })
	got, raw, err := status.Query(path, queryTimeout)
	if err != nil {
		t.Fatal(err)
	}
	if got.Rekey.Last != nil || got.Rekey.Next != nil {
		t.Errorf("rekey times %v, %v; want nil", got.Rekey.Last, got.Rekey.Next)
	}
	if !strings.Contains(string(raw), `"last": null`) || !strings.Contains(string(raw), `"next": null`) {
		t.Errorf("rekey times are not null in JSON:\n%s", raw)
	}
}

func TestConcurrentQueries(t *testing.T) {
	path := filepath.Join(t.TempDir(), "status.sock")
	var calls atomic.Int64
	listen(t, path, "", func() status.Snapshot { calls.Add(1); return sample() })
	const n = 16
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			if _, _, err := status.Query(path, queryTimeout); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := calls.Load(); got != n {
		t.Errorf("provider called %d times for %d connections", got, n)
	}
}

func TestCountersListMatchesJSON(t *testing.T) {
	c := sample().Counters
	data, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var byName map[string]uint64
	if err := json.Unmarshal(data, &byName); err != nil {
		t.Fatal(err)
	}
	list := c.List()
	if len(list) != len(byName) {
		t.Errorf("List() has %d counters, JSON has %d", len(list), len(byName))
	}
	for _, e := range list {
		if v, ok := byName[e.Name]; !ok || v != e.Value {
			t.Errorf("List() %s = %d; JSON has %d (present %v)", e.Name, e.Value, v, ok)
		}
	}
}

// memberOf reports whether this process may give a file the group gid.
func memberOf(gid int) bool {
	if os.Geteuid() == 0 || os.Getegid() == gid {
		return true
	}
	groups, _ := os.Getgroups()
	return slices.Contains(groups, gid)
}

// testGroup returns a group other than root's to give the socket: dialout,
// else gid 20, else nil.
func testGroup() *user.Group {
	if g, err := user.LookupGroup("dialout"); err == nil {
		return g
	}
	if g, err := user.LookupGroupId("20"); err == nil {
		return g
	}
	return nil
}

func TestPermissions(t *testing.T) {
	tests := []struct {
		name  string
		group func(g *user.Group) string // the group argument; nil: none
		mode  fs.FileMode
	}{
		{"no group", nil, 0o600},
		{"group by name", func(g *user.Group) string { return g.Name }, 0o660},
		{"numeric gid", func(g *user.Group) string { return g.Gid }, 0o660},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			group, wantGID := "", -1
			if tc.group != nil {
				g := testGroup()
				if g == nil {
					t.Skip("no group dialout or gid 20")
				}
				wantGID, _ = strconv.Atoi(g.Gid)
				if !memberOf(wantGID) {
					t.Skipf("cannot give files group %s: not root and not a member", g.Name)
				}
				group = tc.group(g)
			}
			path := filepath.Join(t.TempDir(), "status.sock")
			listen(t, path, group, sample)
			fi, err := os.Lstat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != tc.mode {
				t.Errorf("mode %v, want a socket with %v", fi.Mode(), tc.mode)
			}
			if st := fi.Sys().(*syscall.Stat_t); wantGID >= 0 && int(st.Gid) != wantGID {
				t.Errorf("group %d, want %d", st.Gid, wantGID)
			}
			if _, _, err := status.Query(path, queryTimeout); err != nil {
				t.Error(err)
			}
			// Only the socket is left in the directory: the temporary
			// name it was bound under is gone.
			entries, err := os.ReadDir(filepath.Dir(path))
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != 1 {
				t.Errorf("directory holds %d entries, want only the socket", len(entries))
			}
		})
	}
}

func TestUnknownGroup(t *testing.T) {
	path := filepath.Join(t.TempDir(), "status.sock")
	if s, err := status.Listen(path, "no-such-group-c2cbridge", sample); err == nil {
		s.Close()
		t.Fatal("Listen with an unknown group: no error")
	}
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("socket left behind after a failed Listen: %v", err)
	}
}

func TestCreatesParentDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run", "c2cbridge", "status.sock")
	listen(t, path, "", sample)
	fi, err := os.Stat(filepath.Dir(path))
	if err != nil || !fi.IsDir() {
		t.Fatalf("parent directory: %v", err)
	}
	if fi.Mode().Perm()&^0o755 != 0 {
		t.Errorf("parent directory mode %v, want at most 0755", fi.Mode().Perm())
	}
}

// staleSocket leaves a socket file at path that nothing serves, as a
// daemon that was killed does.
func staleSocket(t *testing.T, path string) {
	t.Helper()
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
}

func TestStaleSocketReplaced(t *testing.T) {
	path := filepath.Join(t.TempDir(), "status.sock")
	staleSocket(t, path)
	if _, _, err := status.Query(path, queryTimeout); err == nil {
		t.Fatal("the stale socket answers")
	}
	listen(t, path, "", sample)
	if _, _, err := status.Query(path, queryTimeout); err != nil {
		t.Errorf("after replacing a stale socket: %v", err)
	}
}

func TestServedSocketRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "status.sock")
	listen(t, path, "", sample)
	if s, err := status.Listen(path, "", sample); !errors.Is(err, status.ErrInUse) {
		if s != nil {
			s.Close()
		}
		t.Fatalf("second Listen on a served socket: %v, want ErrInUse", err)
	}
	if _, _, err := status.Query(path, queryTimeout); err != nil {
		t.Errorf("the first server stopped answering: %v", err)
	}
}

func TestNonSocketRefused(t *testing.T) {
	tests := []struct {
		name   string
		create func(path string) error
	}{
		{"regular file", func(p string) error { return os.WriteFile(p, []byte("keep me"), 0o644) }},
		{"directory", func(p string) error { return os.Mkdir(p, 0o755) }},
		{"symbolic link", func(p string) error { return os.Symlink("/dev/null", p) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "status.sock")
			if err := tc.create(path); err != nil {
				t.Fatal(err)
			}
			before, _ := os.Lstat(path)
			s, err := status.Listen(path, "", sample)
			if err == nil {
				s.Close()
				t.Fatal("Listen replaced a non-socket file")
			}
			if !strings.Contains(err.Error(), "not a socket") {
				t.Errorf("error %q does not say the file is not a socket", err)
			}
			after, err := os.Lstat(path)
			if err != nil || !os.SameFile(before, after) {
				t.Errorf("the file was touched: %v", err)
			}
		})
	}
}

func TestClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "status.sock")
	s, err := status.Listen(path, "", sample)
	if err != nil {
		t.Fatal(err)
	}
	if s.Path() != path {
		t.Errorf("Path() = %q, want %q", s.Path(), path)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("socket file still there after Close: %v", err)
	}
	_, _, err = status.Query(path, queryTimeout)
	var nr *status.NotRunningError
	if !errors.As(err, &nr) {
		t.Errorf("Query after Close: %v, want a NotRunningError", err)
	}
}

func TestCloseKeepsReplacedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "status.sock")
	s, err := status.Listen(path, "", sample)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); err != nil {
		t.Errorf("Close removed a file that is not its socket: %v", err)
	}
}

func TestQueryErrors(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(t *testing.T, path string)
		want    string
		running bool // the error is not a NotRunningError
	}{
		{"no socket", func(*testing.T, string) {}, "is c2cbridge running? no status socket at ", false},
		{"stale socket", staleSocket, "is c2cbridge running? nothing answers on the status socket ", false},
		{"not a status answer", func(t *testing.T, path string) {
			ln, err := net.Listen("unix", path)
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan struct{})
			t.Cleanup(func() { ln.Close(); <-done })
			go func() {
				defer close(done)
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					c.Write([]byte("hello\n"))
					c.Close()
				}
			}()
		}, "not a status answer", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "status.sock")
			tc.setup(t, path)
			_, _, err := status.Query(path, queryTimeout)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to contain %q", err, tc.want)
			}
			if !tc.running && !strings.HasSuffix(err.Error(), path) {
				t.Errorf("error %q does not end with the path", err)
			}
			var nr *status.NotRunningError
			if errors.As(err, &nr) == tc.running {
				t.Errorf("errors.As(NotRunningError) = %v", !tc.running)
			}
		})
	}
}

func TestSocketPath(t *testing.T) {
	tests := []struct {
		name       string
		configured string
		runtimeDir string
		want       string
	}{
		{"configured", "/srv/c2c.sock", "/run/c2cbridge", "/srv/c2c.sock"},
		{"runtime directory", "", "/run/c2cbridge", "/run/c2cbridge/status.sock"},
		{"several runtime directories", "", "/run/a:/run/b", "/run/a/status.sock"},
		{"default", "", "", status.DefaultSocket},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("RUNTIME_DIRECTORY", tc.runtimeDir)
			if got := status.SocketPath(tc.configured); got != tc.want {
				t.Errorf("SocketPath(%q) = %q, want %q", tc.configured, got, tc.want)
			}
		})
	}
}
