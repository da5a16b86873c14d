package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	c2c "github.com/c2cbridge/c2cbridge/crypto"
)

// KeyFileMode is the mode a key file is created with and the most it may
// allow: readable and writable by its owner only.
const KeyFileMode = 0o600

// ErrKeyFilePerm is wrapped when a key file is open to group or others.
var ErrKeyFilePerm = errors.New("key file permissions too open")

// KeyFile is the content of a key file: the current secrets and, during a
// rekey with new secrets, the previous generation's key and hmac_key (the
// te_secret never changes). The format is in docs/protocol.md, "Key file".
type KeyFile struct {
	Secrets  c2c.Secrets
	Previous *c2c.Secrets // nil unless a rekey is not yet confirmed
}

// keyFileYAML is the on-disk form.
type keyFileYAML struct {
	TESecret string        `yaml:"te_secret"`
	Key      string        `yaml:"key"`
	HMACKey  string        `yaml:"hmac_key,omitempty"`
	Previous *previousYAML `yaml:"previous,omitempty"`
}

type previousYAML struct {
	Key     string `yaml:"key"`
	HMACKey string `yaml:"hmac_key,omitempty"`
}

// ReadKeyFile reads and checks the key file at path. It refuses a file that
// group or others may read or write, and says how to fix it.
func ReadKeyFile(path string) (*KeyFile, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("key file %s does not exist: pair the module first (c2cbridge pair --config FILE) or set keys.file: %w", path, err)
		}
		return nil, fmt.Errorf("key file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("key file: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: key file %s is not a regular file", ErrInvalid, path)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("%w: key file %s is readable or writable by group or others (mode %#o): run chmod 600 %s", ErrKeyFilePerm, path, perm, path)
	}
	data := make([]byte, 0, 512)
	buf := bytes.NewBuffer(data)
	if _, err := buf.ReadFrom(f); err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	defer clear(buf.Bytes())
	kf, err := ParseKeyFile(buf.Bytes())
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	return kf, nil
}

// ParseKeyFile parses key file content without looking at permissions.
func ParseKeyFile(data []byte) (*KeyFile, error) {
	var y keyFileYAML
	if err := decodeStrictHiding(data, &y, true); err != nil {
		return nil, err
	}
	kf := &KeyFile{}
	type field struct {
		name     string
		val      string
		dst      *c2c.Secret
		optional bool
	}
	fields := []field{
		{"te_secret", y.TESecret, &kf.Secrets.TESecret, false},
		{"key", y.Key, &kf.Secrets.Key, false},
		{"hmac_key", y.HMACKey, &kf.Secrets.HMACKey, true},
	}
	if y.Previous != nil {
		kf.Previous = &c2c.Secrets{}
		fields = append(fields,
			field{"previous.key", y.Previous.Key, &kf.Previous.Key, false},
			field{"previous.hmac_key", y.Previous.HMACKey, &kf.Previous.HMACKey, true})
	}
	for _, f := range fields {
		if f.val == "" {
			if f.optional {
				continue
			}
			return nil, fmt.Errorf("%w: %s: missing", ErrInvalid, f.name)
		}
		k, err := c2c.ParseSecret(f.val)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrInvalid, f.name, err)
		}
		*f.dst = k
		k.Zero()
	}
	if kf.Previous != nil {
		kf.Previous.TESecret = kf.Secrets.TESecret
	}
	return kf, nil
}

// Marshal returns the key file's YAML text. The result holds secrets: the
// caller clears it after use.
func (kf *KeyFile) Marshal() []byte {
	var b bytes.Buffer
	b.WriteString("# c2cbridge key file: secrets of one C2C pairing. Keep it mode 0600; never share it.\n")
	line := func(indent, name string, k *c2c.Secret) {
		b.WriteString(indent + name + ": ")
		b.WriteString(k.Hex())
		b.WriteByte('\n')
	}
	line("", "te_secret", &kf.Secrets.TESecret)
	line("", "key", &kf.Secrets.Key)
	if !kf.Secrets.HMACKey.IsZero() {
		line("", "hmac_key", &kf.Secrets.HMACKey)
	}
	if kf.Previous != nil {
		b.WriteString("previous:\n")
		line("  ", "key", &kf.Previous.Key)
		if !kf.Previous.HMACKey.IsZero() {
			line("  ", "hmac_key", &kf.Previous.HMACKey)
		}
	}
	return b.Bytes()
}

// WriteKeyFile writes kf to path atomically: a temporary file in the same
// directory, created with mode 0600, is written and synced, renamed over
// path, and the directory is synced. A crash at any point leaves either the
// old file or the new one, never a mix.
func WriteKeyFile(path string, kf *KeyFile) error {
	data := kf.Marshal()
	defer clear(data)
	return WriteFileAtomic(path, data, KeyFileMode)
}

// CheckKeyFileWritable reports whether WriteKeyFile could write path now:
// it creates and removes a temporary file in path's directory, as
// WriteKeyFile's first step does.
func CheckKeyFileWritable(path string) error {
	dir, base := tempDir(path)
	f, err := os.CreateTemp(dir, "."+base+".check-*")
	if err != nil {
		return fmt.Errorf("key file %s cannot be written: %w", path, err)
	}
	f.Close()
	os.Remove(f.Name())
	return nil
}

// tempDir returns the directory where a temporary file for path is made
// (path's own, so a rename can replace path atomically; "." for a bare
// name) and path's base name.
func tempDir(path string) (dir, base string) {
	dir, base = filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	return dir, base
}

// WriteFileAtomic writes data to path atomically with the given mode (see
// WriteKeyFile).
func WriteFileAtomic(path string, data []byte, mode os.FileMode) (err error) {
	dir, base := tempDir(path)
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	// CreateTemp makes the file 0600 already; Chmod covers a stricter or
	// different mode and an unusual umask.
	if err := tmp.Chmod(mode); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("write %s: sync: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("write %s: sync directory: %w", path, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("write %s: sync directory: %w", path, err)
	}
	return nil
}
