package ptyside

import (
	"fmt"
	"os"
)

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
