package main

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/c2cbridge/c2cbridge/config"
	c2c "github.com/c2cbridge/c2cbridge/crypto"
)

// credentialsTest is a credentials directory and a key file path in a
// temporary directory, and a debug logger into a buffer.
type credentialsTest struct {
	credDir string
	keyFile string
	logBuf  bytes.Buffer
	log     *slog.Logger
}

func newCredentialsTest(t *testing.T) *credentialsTest {
	t.Helper()
	dir := t.TempDir()
	c := &credentialsTest{credDir: filepath.Join(dir, "credentials"), keyFile: filepath.Join(dir, "state", "keys.yaml")}
	for _, d := range []string{c.credDir, filepath.Dir(c.keyFile)} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	c.log = slog.New(slog.NewTextHandler(&c.logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return c
}

// writeCredential writes the c2cbridge-keys credential, read-only as
// systemd makes it.
func (c *credentialsTest) writeCredential(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(c.credDir, keysCredential)
	if err := os.WriteFile(path, []byte(content), 0o400); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestSeedKeysFromCredential(t *testing.T) {
	for _, v := range []c2c.Version{c2c.V1, c2c.V2} {
		t.Run(v.String(), func(t *testing.T) {
			c := newCredentialsTest(t)
			s := keysTestSecrets(t, v)
			c.writeCredential(t, string((&config.KeyFile{Secrets: *s}).Marshal()))
			t.Setenv(credentialsDirEnv, c.credDir)
			cfg := &config.Config{Keys: config.Keys{File: c.keyFile}}
			if err := seedKeysFromCredentials(cfg, c.log); err != nil {
				t.Fatal(err)
			}
			kf, err := config.ReadKeyFile(c.keyFile) // checks the mode too
			if err != nil {
				t.Fatal(err)
			}
			if got, want := kf.Secrets.Fingerprint(), s.Fingerprint(); got != want {
				t.Errorf("seeded key file: fingerprint %s, want %s", got, want)
			}
			if m := fileMode(t, c.keyFile); m != config.KeyFileMode {
				t.Errorf("seeded key file: mode %v, want 0600", m)
			}
			logText := c.logBuf.String()
			if strings.Count(logText, "\n") != 1 || !strings.Contains(logText, "level=INFO") ||
				!strings.Contains(logText, "fingerprint="+s.Fingerprint()) || !strings.Contains(logText, keysCredential) {
				t.Errorf("want one info line with the credential and the fingerprint, got %q", logText)
			}
			checkNoSecrets(t, "log", logText, s)
		})
	}
}

func TestSeedKeysIgnoredWhenKeyFileExists(t *testing.T) {
	c := newCredentialsTest(t)
	cred := keysTestSecrets(t, c2c.V2)
	live := keysTestSecrets(t, c2c.V2)
	c.writeCredential(t, string((&config.KeyFile{Secrets: *cred}).Marshal()))
	if err := config.WriteKeyFile(c.keyFile, &config.KeyFile{Secrets: *live}); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(c.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := seedKeyFile(c.credDir, c.keyFile, c.log); err != nil {
		t.Fatal(err)
	}
	after, err := os.ReadFile(c.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Error("the credential replaced an existing key file")
	}
	logText := c.logBuf.String()
	if !strings.Contains(logText, "level=DEBUG") || !strings.Contains(logText, "ignoring") || strings.Contains(logText, "level=INFO") {
		t.Errorf("want one debug line, got %q", logText)
	}
	checkNoSecrets(t, "log", logText, cred, live)
}

func TestSeedKeysMalformedCredential(t *testing.T) {
	s := keysTestSecrets(t, c2c.V2)
	tests := []struct {
		name    string
		content string
		want    string
	}{
		{"bad hex", "te_secret: " + s.TESecret.Hex() + "\nkey: " + strings.Repeat("xy", 16) + "\n", "key: not 32 hex characters"},
		{"missing key", "te_secret: " + s.TESecret.Hex() + "\n", "key: missing"},
		{"unknown key", "te_secret: " + s.TESecret.Hex() + "\nkey: " + s.Key.Hex() + "\nhmac: " + s.HMACKey.Hex() + "\n", "unknown key (name not shown"},
		{"a bare secret", s.Key.Hex() + "\n", "(value hidden)"},
		{"empty", "", "te_secret: missing"},
		{"all-zero te_secret", "te_secret: " + strings.Repeat("0", 32) + "\nkey: " + s.Key.Hex() + "\n", "te_secret is all zero"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newCredentialsTest(t)
			path := c.writeCredential(t, tc.content)
			err := seedKeyFile(c.credDir, c.keyFile, c.log)
			if err == nil {
				t.Fatal("a malformed credential was accepted")
			}
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q: want the credential's path and %q", err, tc.want)
			}
			if _, err := os.Lstat(c.keyFile); !os.IsNotExist(err) {
				t.Errorf("a key file was written from a malformed credential (%v)", err)
			}
			checkNoSecrets(t, "error", err.Error(), s)
			checkNoSecrets(t, "log", c.logBuf.String(), s)
		})
	}
}

func TestSeedKeysNoCredential(t *testing.T) {
	c := newCredentialsTest(t)
	cfg := &config.Config{Keys: config.Keys{File: c.keyFile}}
	t.Run("no credentials directory", func(t *testing.T) {
		t.Setenv(credentialsDirEnv, "")
		if err := seedKeysFromCredentials(cfg, c.log); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("no c2cbridge-keys credential", func(t *testing.T) {
		t.Setenv(credentialsDirEnv, c.credDir)
		if err := seedKeysFromCredentials(cfg, c.log); err != nil {
			t.Fatal(err)
		}
	})
	if _, err := os.Lstat(c.keyFile); !os.IsNotExist(err) {
		t.Errorf("a key file was written without a credential (%v)", err)
	}
}
