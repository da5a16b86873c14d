package ptyside

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
)

// createLink makes link a symlink to target. A symlink already at link is
// replaced (it is left over from an earlier run); anything else at link is
// refused with ErrLinkOccupied.
func createLink(link, target string, log *slog.Logger) error {
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
		return fmt.Errorf("%w (found a %s); refusing to replace it", ErrLinkOccupied, describeType(fi.Mode()))
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

// removeLink removes link if it is still a symlink to target. A link that
// is gone or has been pointed elsewhere belongs to someone else now and is
// left alone.
func removeLink(link, target string, log *slog.Logger) error {
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

// describeType names the kind of file m describes, for error messages.
func describeType(m fs.FileMode) string {
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

// applyPerm gives the device node at path the mode (if not zero) and the
// group gid (if not negative).
func applyPerm(path string, mode os.FileMode, gid int) error {
	if gid >= 0 {
		if err := os.Chown(path, -1, gid); err != nil {
			return fmt.Errorf("set group of %s to %d: %w", path, gid, err)
		}
	}
	if mode != 0 {
		if err := os.Chmod(path, mode.Perm()); err != nil {
			return fmt.Errorf("set mode of %s to %04o: %w", path, uint32(mode.Perm()), err)
		}
	}
	return nil
}
