package status

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// Where daemons keep their runtime directories: the single service's
// RuntimeDirectory=c2cbridge and an instance's RuntimeDirectory=c2cbridge-%i
// (c2cbridge@.service), each holding a status.sock.
const (
	// RunDir is the parent of every runtime directory.
	RunDir = "/run"
	// RuntimeDirName is the single service's runtime directory name.
	RuntimeDirName = "c2cbridge"
	// InstanceDirPrefix starts an instance's runtime directory name:
	// c2cbridge-NAME.
	InstanceDirPrefix = RuntimeDirName + "-"
)

// ErrBadInstance is returned for an instance name that cannot be a
// c2cbridge@.service instance.
var ErrBadInstance = errors.New("not an instance name")

// instanceName is what an instance name may hold: systemd's unit-name
// characters, as %i gives them, and no path separators.
var instanceName = regexp.MustCompile(`^[A-Za-z0-9_.:\\-]{1,64}$`)

// CheckInstance returns an error wrapping ErrBadInstance when name is not
// an instance name (1 to 64 letters, digits and _ . : - \; not "." or "..").
func CheckInstance(name string) error {
	if !instanceName.MatchString(name) || name == "." || name == ".." {
		return fmt.Errorf("%q: %w (1 to 64 of A-Z a-z 0-9 _ . : - \\, as in c2cbridge@NAME.service)", name, ErrBadInstance)
	}
	return nil
}

// InstanceSocket returns the status socket of instance name under runDir
// (RunDir outside tests): runDir/c2cbridge-NAME/status.sock.
func InstanceSocket(runDir, name string) (string, error) {
	if err := CheckInstance(name); err != nil {
		return "", err
	}
	return filepath.Join(runDir, InstanceDirPrefix+name, SocketName), nil
}

// Found is a status socket Instances found.
type Found struct {
	// Instance is the instance name, "" for the single service's socket.
	Instance string
	// Socket is the socket's path.
	Socket string
}

// Instances lists the status sockets under runDir (RunDir outside tests):
// runDir/c2cbridge/status.sock first, then runDir/c2cbridge-NAME/status.sock
// by name. Only sockets are listed; whether a daemon answers is the
// caller's question (Query).
func Instances(runDir string) ([]Found, error) {
	entries, err := os.ReadDir(runDir)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", runDir, err)
	}
	var found []Found
	for _, e := range entries {
		name, ok := "", false
		switch {
		case e.Name() == RuntimeDirName:
			ok = true
		case strings.HasPrefix(e.Name(), InstanceDirPrefix):
			name = strings.TrimPrefix(e.Name(), InstanceDirPrefix)
			ok = CheckInstance(name) == nil
		}
		if !ok || !e.IsDir() {
			continue
		}
		sock := filepath.Join(runDir, e.Name(), SocketName)
		fi, err := os.Lstat(sock)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return nil, fmt.Errorf("status socket %s: %w", sock, err)
		}
		if fi.Mode().Type() != fs.ModeSocket {
			continue
		}
		found = append(found, Found{Instance: name, Socket: sock})
	}
	sort.Slice(found, func(i, j int) bool {
		if (found[i].Instance == "") != (found[j].Instance == "") {
			return found[i].Instance == ""
		}
		return found[i].Instance < found[j].Instance
	})
	return found, nil
}
