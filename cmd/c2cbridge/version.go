package main

import "runtime/debug"

// versionString returns the version "c2cbridge version" prints: the one
// packaging/version computed when the build set it, else the module
// version of a "go install ...@vX", else "devel" with the commit a plain
// "go build" in a checkout recorded (devel+abc123def456, .dirty for
// uncommitted changes), else "devel".
func versionString() string {
	if version != "" {
		return version
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	return buildInfoVersion(info)
}

// buildInfoVersion is versionString's fallback for a build without
// -ldflags, from the build's information.
func buildInfoVersion(info *debug.BuildInfo) string {
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if rev == "" {
		return "devel"
	}
	const shortRev = 12
	if len(rev) > shortRev {
		rev = rev[:shortRev]
	}
	v := "devel+" + rev
	if modified == "true" {
		v += ".dirty"
	}
	return v
}
