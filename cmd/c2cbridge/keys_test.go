package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/c2cbridge/c2cbridge/config"
	c2c "github.com/c2cbridge/c2cbridge/crypto"
)

// keysTestSecrets returns fresh random secrets of version v.
func keysTestSecrets(t *testing.T, v c2c.Version) *c2c.Secrets {
	t.Helper()
	s := c2c.RandomSecrets(v)
	if s.Version() != v {
		t.Fatalf("test secrets: version %v, want %v", s.Version(), v)
	}
	return s
}

// secretWindow is the length of the pieces of a secret's hex that must
// not appear in output: long enough that a random match is very unlikely.
const secretWindow = 8

// checkNoSecrets fails t if text holds any secret of ss in hex, upper or
// lower case, or any secretWindow characters of it.
func checkNoSecrets(t *testing.T, what, text string, ss ...*c2c.Secrets) {
	t.Helper()
	low := strings.ToLower(text)
	for _, s := range ss {
		if s == nil {
			continue
		}
		for name, k := range map[string]*c2c.Secret{"te_secret": &s.TESecret, "key": &s.Key, "hmac_key": &s.HMACKey} {
			if k.IsZero() {
				continue
			}
			h := k.Hex()
			for i := 0; i+secretWindow <= len(h); i++ {
				if strings.Contains(low, h[i:i+secretWindow]) {
					t.Errorf("%s shows (part of) the %s: %q", what, name, text)
					break
				}
			}
		}
	}
}

// fileMode returns the permission bits of the file at path.
func fileMode(t *testing.T, path string) os.FileMode {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Mode().Perm()
}

// writeKeysTestConfig writes a configuration whose keys.file is keyFile
// into dir and returns its path.
func writeKeysTestConfig(t *testing.T, dir, keyFile string) string {
	t.Helper()
	text := fmt.Sprintf("modem:\n  device: %q\npty:\n  link: %q\nkeys:\n  file: %q\n",
		filepath.Join(dir, "ttyModem0"), filepath.Join(dir, "ttyC2C0"), keyFile)
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestKeysCheck(t *testing.T) {
	v1 := keysTestSecrets(t, c2c.V1)
	v2 := keysTestSecrets(t, c2c.V2)
	prev := keysTestSecrets(t, c2c.V2)
	prev.TESecret = v2.TESecret
	marshal := func(s, previous *c2c.Secrets) string {
		return string((&config.KeyFile{Secrets: *s, Previous: previous}).Marshal())
	}
	v2Hex := v2.TESecret.Hex()
	tests := []struct {
		name    string
		content string // "" for no key file
		mode    os.FileMode
		status  int
		want    []string // in stdout when status is 0, else in stderr
	}{
		{"good V1", marshal(v1, nil), 0o600, 0, []string{"V1", "fingerprint " + v1.Fingerprint()}},
		{"good V2", marshal(v2, nil), 0o600, 0, []string{"V2", "fingerprint " + v2.Fingerprint()}},
		{"V2 during a rekey", marshal(v2, prev), 0o600, 0,
			[]string{"V2", "fingerprint " + v2.Fingerprint(), "previous generation (fingerprint " + prev.Fingerprint()}},
		{"mode 0644", marshal(v2, nil), 0o644, 1, []string{"chmod 600", "group or others"}},
		{"bad hex", "te_secret: " + strings.Repeat("zz", 16) + "\nkey: " + v2.Key.Hex() + "\n", 0o600, 1,
			[]string{"te_secret", "not 32 hex characters"}},
		{"short key", "te_secret: " + v2Hex + "\nkey: " + v2.Key.Hex()[:30] + "\n", 0o600, 1,
			[]string{"key", "got 30 characters"}},
		{"a bare secret, not YAML keys", v2Hex + "\n", 0o600, 1, []string{"cannot unmarshal", "(value hidden)"}},
		{"all-zero key", "te_secret: " + v2Hex + "\nkey: " + strings.Repeat("0", 32) + "\n", 0o600, 1,
			[]string{"key is all zero"}},
		{"previous generation of another version", marshal(v2, &c2c.Secrets{Key: v1.Key}), 0o600, 1,
			[]string{"previous generation is V1 but the current one is V2"}},
		{"missing file", "", 0, 1, []string{"does not exist", "c2cbridge pair"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			keyFile := filepath.Join(dir, "keys.yaml")
			if tc.content != "" {
				if err := os.WriteFile(keyFile, []byte(tc.content), 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(keyFile, tc.mode); err != nil {
					t.Fatal(err)
				}
			}
			cfg := writeKeysTestConfig(t, dir, keyFile)
			var stdout, stderr bytes.Buffer
			status := cmdKeys([]string{"check", "--config", cfg}, &stdout, &stderr)
			if status != tc.status {
				t.Fatalf("status %d, want %d; stdout %q, stderr %q", status, tc.status, stdout.String(), stderr.String())
			}
			out, other := stdout.String(), stderr.String()
			if status != 0 {
				out, other = other, out
			}
			if other != "" {
				t.Errorf("unexpected output %q", other)
			}
			if n := strings.Count(out, "\n"); n != 1 || !strings.HasSuffix(out, "\n") {
				t.Errorf("want one line, got %q", out)
			}
			for _, w := range append(tc.want, keyFile) {
				if !strings.Contains(out, w) {
					t.Errorf("output %q does not say %q", out, w)
				}
			}
			checkNoSecrets(t, "keys check", stdout.String()+stderr.String(), v1, v2, prev)
		})
	}
}

func TestKeysUsage(t *testing.T) {
	tests := []struct {
		args   []string
		status int
	}{
		{nil, 2},
		{[]string{"rotate"}, 2},
		{[]string{"check", "extra"}, 2},
		{[]string{"check", "--bogus"}, 2},
		{[]string{"help"}, 0},
	}
	for _, tc := range tests {
		var stdout, stderr bytes.Buffer
		if got := cmdKeys(tc.args, &stdout, &stderr); got != tc.status {
			t.Errorf("keys %q: status %d, want %d (stderr %q)", tc.args, got, tc.status, stderr.String())
		}
	}
}
