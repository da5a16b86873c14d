// Package ttylink makes and removes the symlink a tty is offered under, such
// as /dev/ttyC2C0 pointing at /dev/pts/3.
//
// The rules are the ones an operator relies on across restarts: a symlink
// already at the path is left over from an earlier run and is replaced in
// one step (the path is never missing in between); anything else there is
// someone else's file and is refused; and on the way out a link is removed
// only while it still points at our tty, so a link another program has
// taken over stays.
package ttylink

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
)

// ErrOccupied is returned (wrapped) by Create when something other than a
// symlink exists at the link path. Create never replaces such a file.
var ErrOccupied = errors.New("link path exists and is not a symlink")

// Create makes link a symlink to target. A symlink already at link is
// replaced (it is left over from an earlier run), which is logged on log;
// anything else at link is refused with ErrOccupied.
func Create(link, target string, log *slog.Logger) error {
	fi, err := os.Lstat(link)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.Symlink(target, link); err != nil {
			return fmt.Errorf("create link: %w", err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("inspect link path: %w", err)
	case fi.Mode()&fs.ModeSymlink == 0:
		return fmt.Errorf("%w (found a %s); refusing to replace it", ErrOccupied, DescribeType(fi.Mode()))
	}

	old, _ := os.Readlink(link)
	log.Info("replacing stale link", "old_target", old, "target", target)
	// Build the new link beside the old one and rename it into place, so
	// the path is replaced atomically and never missing in between.
	tmp := filepath.Join(filepath.Dir(link), fmt.Sprintf(".%s.%d.tmp", filepath.Base(link), os.Getpid()))
	if fi, err := os.Lstat(tmp); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		_ = os.Remove(tmp) // Left over from a crashed run with our pid.
	}
	if err := os.Symlink(target, tmp); err != nil {
		return fmt.Errorf("create link: %w", err)
	}
	if err := os.Rename(tmp, link); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("replace stale link: %w", err)
	}
	return nil
}

// Remove removes link if it is still a symlink to target. A link that is
// gone is no error; one that has been pointed elsewhere or replaced by
// another kind of file belongs to someone else now and is left alone, with
// a warning on log.
func Remove(link, target string, log *slog.Logger) error {
	cur, err := os.Readlink(link)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		log.Warn("link changed, not removing it", "err", err)
		return nil
	case cur != target:
		log.Warn("link points elsewhere, not removing it", "link_target", cur, "target", target)
		return nil
	}
	if err := os.Remove(link); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove link: %w", err)
	}
	return nil
}

// DescribeType names the kind of file m describes, for error messages:
// "regular file", "character device", "socket", ...
func DescribeType(m fs.FileMode) string {
	switch {
	case m.IsRegular():
		return "regular file"
	case m.IsDir():
		return "directory"
	case m&fs.ModeCharDevice != 0:
		return "character device"
	case m&fs.ModeDevice != 0:
		return "block device"
	case m&fs.ModeNamedPipe != 0:
		return "named pipe"
	case m&fs.ModeSocket != 0:
		return "socket"
	default:
		return "non-symlink file"
	}
}
