package status

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/c2cbridge/c2cbridge/internal/unixgroup"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Where the socket goes when the configuration does not say.
const (
	// DefaultSocket is the socket's path outside a systemd service with a
	// RuntimeDirectory=, and the path a service with
	// RuntimeDirectory=c2cbridge gets.
	DefaultSocket = "/run/c2cbridge/status.sock"
	// SocketName is the socket's file name in $RUNTIME_DIRECTORY.
	SocketName = "status.sock"
)

// Timings of the server.
const (
	// writeTimeout bounds the write of one answer; an answer fits in the
	// socket buffer, so it only matters for a pathological peer.
	writeTimeout = 5 * time.Second
	// inUseTimeout bounds the check whether an existing socket is served.
	inUseTimeout = time.Second
	// maxAcceptBackoff caps the pause after a failed accept (out of
	// descriptors, for example).
	maxAcceptBackoff = time.Second
)

// ErrInUse is returned by Listen when another process serves the socket.
var ErrInUse = errors.New("status socket in use: is another c2cbridge running?")

// SocketPath returns where the status socket is: configured if it is not
// empty, else status.sock in $RUNTIME_DIRECTORY (its first entry when it
// lists several, separated by ':'), else DefaultSocket.
func SocketPath(configured string) string {
	if configured != "" {
		return configured
	}
	if dirs := os.Getenv("RUNTIME_DIRECTORY"); dirs != "" {
		if dir, _, _ := strings.Cut(dirs, ":"); dir != "" {
			return filepath.Join(dir, SocketName)
		}
	}
	return DefaultSocket
}

// Server serves snapshots on a unix socket until Close.
type Server struct {
	path     string
	ln       *net.UnixListener
	file     os.FileInfo // the socket file, so Close removes only its own
	provider func() Snapshot
	done     chan struct{}
	wg       sync.WaitGroup
	once     sync.Once
	closeErr error
}

// Listen creates the status socket at path and serves it: each connection
// gets provider's snapshot as one indented JSON object, then is closed.
// provider is called from the server's goroutine, one connection at a
// time, and must be safe to call concurrently with the rest of the daemon.
//
// The parent directory is created (mode 0755) if missing. A socket file
// left at path by a process that is gone is replaced; a socket another
// process still serves is an error wrapping ErrInUse, and any other kind
// of file is refused. The socket is mode 0600, or 0660 with the group
// group (a name or a numeric gid) when group is not empty. It appears at
// path with its final mode and group already set.
func Listen(path string, group string, provider func() Snapshot) (*Server, error) {
	if path == "" {
		return nil, errors.New("status socket: no path")
	}
	if provider == nil {
		return nil, errors.New("status socket: no snapshot provider")
	}
	gid, mode := -1, os.FileMode(0o600)
	if group != "" {
		var err error
		if gid, err = unixgroup.Lookup(group); err != nil {
			return nil, fmt.Errorf("status socket %s: %w", path, err)
		}
		mode = 0o660
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("status socket %s: create directory: %w", path, err)
	}
	if err := removeStale(path); err != nil {
		return nil, err
	}
	// Bind under a temporary name, set mode and group, then link the
	// finished socket at path: no client ever sees it with the umask's
	// mode, and the link fails rather than replace a file that appeared
	// meanwhile.
	tmp, err := tempName(dir)
	if err != nil {
		return nil, fmt.Errorf("status socket %s: %w", path, err)
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("status socket %s: %w", path, err)
	}
	ln.SetUnlinkOnClose(false) // the file is removed by name below and in Close
	fail := func(err error) (*Server, error) {
		ln.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("status socket %s: %w", path, err)
	}
	if gid >= 0 {
		if err := os.Chown(tmp, -1, gid); err != nil {
			return fail(fmt.Errorf("set group %s: %w", group, err))
		}
	}
	if err := os.Chmod(tmp, mode); err != nil {
		return fail(fmt.Errorf("set mode %04o: %w", uint32(mode), err))
	}
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fail(fmt.Errorf("%w (a file appeared at the path while starting)", ErrInUse))
		}
		return fail(err)
	}
	if err := os.Remove(tmp); err != nil {
		os.Remove(path)
		return fail(err)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("status socket %s: %w", path, err)
	}
	s := &Server{path: path, ln: ln, file: fi, provider: provider, done: make(chan struct{})}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// removeStale removes a socket file at path that no process serves. It
// refuses a served socket (ErrInUse) and any file that is not a socket.
func removeStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("status socket %s: %w", path, err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("status socket %s: refusing to replace a %s that is not a socket; remove it or set status.socket", path, kind(fi.Mode()))
	}
	if conn, err := net.DialTimeout("unix", path, inUseTimeout); err == nil {
		conn.Close()
		return fmt.Errorf("status socket %s: %w", path, ErrInUse)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("status socket %s: remove stale socket: %w", path, err)
	}
	return nil
}

func kind(m fs.FileMode) string {
	switch m.Type() {
	case 0:
		return "regular file"
	case fs.ModeDir:
		return "directory"
	case fs.ModeSymlink:
		return "symbolic link"
	case fs.ModeNamedPipe:
		return "named pipe"
	case fs.ModeDevice, fs.ModeDevice | fs.ModeCharDevice:
		return "device"
	}
	return "file"
}

// tempName returns an unused-looking name in dir for binding the socket.
func tempName(dir string) (string, error) {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("temporary name: %w", err)
	}
	return filepath.Join(dir, ".status-"+hex.EncodeToString(b[:])), nil
}

// Path returns the socket's path.
func (s *Server) Path() string { return s.path }

// accept serves connections until Close.
func (s *Server) accept() {
	defer s.wg.Done()
	var backoff time.Duration
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			select {
			case <-s.done:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of descriptors or similar: pause, then try again.
			backoff = min(max(2*backoff, 5*time.Millisecond), maxAcceptBackoff)
			t := time.NewTimer(backoff)
			select {
			case <-s.done:
				t.Stop()
				return
			case <-t.C:
			}
			continue
		}
		backoff = 0
		s.serve(conn)
	}
}

// serve writes one snapshot to conn and closes it. A client that went
// away is no error worth reporting.
func (s *Server) serve(conn net.Conn) {
	defer conn.Close()
	data, err := json.MarshalIndent(s.provider(), "", "  ")
	if err != nil {
		return
	}
	data = append(data, '\n')
	conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	conn.Write(data)
}

// Close stops serving, waits for the server's goroutine and removes the
// socket file (unless another file has replaced it). It is safe to call
// more than once; later calls return the first call's result.
func (s *Server) Close() error {
	s.once.Do(func() {
		close(s.done)
		err := s.ln.Close()
		s.wg.Wait()
		if fi, lerr := os.Lstat(s.path); lerr == nil && os.SameFile(fi, s.file) {
			if rerr := os.Remove(s.path); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
				err = errors.Join(err, rerr)
			}
		}
		if err != nil {
			s.closeErr = fmt.Errorf("close status socket %s: %w", s.path, err)
		}
	})
	return s.closeErr
}
