package main

import (
	"bytes"
	"runtime/debug"
	"testing"
)

func TestBuildInfoVersion(t *testing.T) {
	rev := "0123456789abcdef0123456789abcdef01234567"
	tests := []struct {
		name string
		info debug.BuildInfo
		want string
	}{
		{"go install at a tag", debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"}}, "v1.2.3"},
		{"no VCS information", debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "devel"},
		{"clean checkout", debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: "false"}}}, "devel+0123456789ab"},
		{"modified checkout", debug.BuildInfo{Settings: []debug.BuildSetting{
			{Key: "vcs.modified", Value: "true"}, {Key: "vcs.revision", Value: rev}}}, "devel+0123456789ab.dirty"},
		{"short revision", debug.BuildInfo{Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "abc"}}}, "devel+abc"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := buildInfoVersion(&tc.info); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestVersionCommand checks that "c2cbridge version" prints the version
// the build set (packaging/deb/build's -ldflags -X main.version=...), in
// the format "c2cbridge VERSION".
func TestVersionCommand(t *testing.T) {
	saved := version
	t.Cleanup(func() { version = saved })
	version = "1.2.3+4.gabc1234"
	var stdout, stderr bytes.Buffer
	if rc := runMain([]string{"version"}, &stdout, &stderr); rc != 0 {
		t.Fatalf("exit %d, stderr %q", rc, stderr.String())
	}
	if got, want := stdout.String(), "c2cbridge 1.2.3+4.gabc1234\n"; got != want {
		t.Errorf("printed %q, want %q", got, want)
	}
}
