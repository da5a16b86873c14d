package status

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"syscall"
	"time"
)

// maxAnswer bounds the size of an answer Query accepts.
const maxAnswer = 1 << 20

// NotRunningError is Query's error when no daemon serves the socket: there
// is no socket file, or nothing listens on it.
type NotRunningError struct {
	Path string
	Err  error // the connect error
}

// Error says what is missing and asks whether the daemon runs.
func (e *NotRunningError) Error() string {
	if errors.Is(e.Err, fs.ErrNotExist) {
		return "is c2cbridge running? no status socket at " + e.Path
	}
	return "is c2cbridge running? nothing answers on the status socket " + e.Path
}

// Unwrap returns the connect error.
func (e *NotRunningError) Unwrap() error { return e.Err }

// Query reads one snapshot from the status socket at path. It returns the
// parsed snapshot and the JSON exactly as the daemon sent it. timeout
// bounds the whole exchange (0: no limit). When no daemon serves the
// socket the error is a *NotRunningError.
func Query(path string, timeout time.Duration) (Snapshot, []byte, error) {
	d := net.Dialer{Timeout: timeout}
	conn, err := d.Dial("unix", path)
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ECONNREFUSED):
		return Snapshot{}, nil, &NotRunningError{Path: path, Err: err}
	case errors.Is(err, fs.ErrPermission):
		return Snapshot{}, nil, fmt.Errorf("status socket %s: permission denied (run as root, or set status.group to a group you are in): %w", path, err)
	case err != nil:
		return Snapshot{}, nil, fmt.Errorf("status socket %s: %w", path, err)
	}
	defer conn.Close()
	if timeout > 0 {
		if err := conn.SetDeadline(time.Now().Add(timeout)); err != nil {
			return Snapshot{}, nil, fmt.Errorf("status socket %s: %w", path, err)
		}
	}
	raw, err := io.ReadAll(io.LimitReader(conn, maxAnswer+1))
	if err != nil {
		return Snapshot{}, nil, fmt.Errorf("status socket %s: read: %w", path, err)
	}
	if len(raw) > maxAnswer {
		return Snapshot{}, nil, fmt.Errorf("status socket %s: answer larger than %d bytes", path, maxAnswer)
	}
	var s Snapshot
	if err := json.Unmarshal(raw, &s); err != nil {
		return Snapshot{}, nil, fmt.Errorf("status socket %s: not a status answer: %w", path, err)
	}
	return s, raw, nil
}
