package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

// TestSimulateArgs: the arguments simulate refuses before it serves
// anything, each with the exit status and the words that say why.
func TestSimulateArgs(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no line", []string{"--pairable"}, 2, "--link PATH is required (or --device PATH)"},
		{"no keys", []string{"--link", filepath.Join(dir, "m")}, 2, "give --keys FILE, or --pairable"},
		{"v1 and v2", []string{"--link", filepath.Join(dir, "m"), "--pairable", "--v1", "--v2"}, 2, "exclude each other"},
		{"missing device", []string{"--device", filepath.Join(dir, "ttyGS0"), "--pairable"}, 1, "no such file"},
		{"unknown group", []string{"--link", filepath.Join(dir, "m"), "--pairable", "--group", "no-such-group-c2c"}, 1, "--group"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := cmdSimulate(tc.args, &stdout, &stderr)
			if code != tc.code || !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("simulate %v: exit %d, stderr %q; want exit %d and %q", tc.args, code, stderr.String(), tc.code, tc.want)
			}
		})
	}
}
