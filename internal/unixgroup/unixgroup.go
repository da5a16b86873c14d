// Package unixgroup resolves the group names and numbers the configuration
// accepts (pty.group, status.group).
package unixgroup

import (
	"fmt"
	"os/user"
	"strconv"
)

// Lookup resolves a group name or a numeric group id to a gid.
func Lookup(group string) (int, error) {
	if gid, err := strconv.Atoi(group); err == nil {
		if gid < 0 {
			return 0, fmt.Errorf("group %q: negative gid", group)
		}
		return gid, nil
	}
	g, err := user.LookupGroup(group)
	if err != nil {
		return 0, fmt.Errorf("look up group %q: %w", group, err)
	}
	gid, err := strconv.Atoi(g.Gid)
	if err != nil {
		return 0, fmt.Errorf("group %q has non-numeric gid %q: %w", group, g.Gid, err)
	}
	return gid, nil
}
