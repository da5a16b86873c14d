package main

// Secrets at rest: a systemd credential may seed the key file.

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/c2cbridge/c2cbridge/config"
)

const (
	// credentialsDirEnv names the directory where systemd puts a
	// service's credentials (LoadCredential=, LoadCredentialEncrypted=).
	credentialsDirEnv = "CREDENTIALS_DIRECTORY"
	// keysCredential is the credential that may hold a key file, in the
	// key file's YAML format.
	keysCredential = "c2cbridge-keys"
)

// seedKeysFromCredentials writes the key file (cfg.Keys.File) from the
// systemd credential c2cbridge-keys when $CREDENTIALS_DIRECTORY holds one
// and the key file does not exist yet. The credential is read-only and a
// rekey may rotate the secrets, so the live copy is always the key file:
// once it exists, the credential is ignored. A malformed credential is an
// error that names it.
func seedKeysFromCredentials(cfg *config.Config, log *slog.Logger) error {
	return seedKeyFile(os.Getenv(credentialsDirEnv), cfg.Keys.File, log)
}

// seedKeyFile is seedKeysFromCredentials with the credentials directory
// (none when "") and the key file's path given.
func seedKeyFile(credDir, keyFile string, log *slog.Logger) error {
	if credDir == "" {
		return nil
	}
	cred := filepath.Join(credDir, keysCredential)
	if _, err := os.Stat(cred); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("systemd credential %s: %w", cred, err)
	}
	exists, err := fileExists(keyFile)
	if err != nil {
		return fmt.Errorf("key file: %w", err)
	}
	if exists {
		log.Debug("key file exists: ignoring the systemd credential", "credential", cred, "key_file", keyFile)
		return nil
	}
	data, err := os.ReadFile(cred)
	if err != nil {
		return fmt.Errorf("systemd credential %s: %w", cred, err)
	}
	defer clear(data)
	kf, err := config.ParseKeyFile(data)
	if err != nil {
		return fmt.Errorf("systemd credential %s: %w", cred, err)
	}
	defer zeroKeyFile(kf)
	if err := checkKeyFile(kf); err != nil {
		return fmt.Errorf("systemd credential %s: %w", cred, err)
	}
	if err := config.WriteKeyFile(keyFile, kf); err != nil {
		return fmt.Errorf("seed the key file from systemd credential %s: %w", cred, err)
	}
	log.Info("key file seeded from the systemd credential", "credential", cred, "key_file", keyFile,
		"version", kf.Secrets.Version().String(), "fingerprint", kf.Secrets.Fingerprint())
	return nil
}
