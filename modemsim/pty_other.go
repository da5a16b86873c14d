//go:build !linux

package modemsim

import (
	"context"
	"errors"
	"io/fs"
	"time"
)

// PTYServer serves a Module on a pseudo-terminal; only Linux has it.
type PTYServer struct{}

// ServePTY is only available on Linux.
func ServePTY(ctx context.Context, m *Module, link string) (*PTYServer, error) {
	return nil, errors.ErrUnsupported
}

// Path returns "".
func (s *PTYServer) Path() string { return "" }

// TTY returns "".
func (s *PTYServer) TTY() string { return "" }

// Unplug does nothing.
func (s *PTYServer) Unplug(d time.Duration) {}

// ClearExclusive returns errors.ErrUnsupported.
func (s *PTYServer) ClearExclusive() error { return errors.ErrUnsupported }

// Close does nothing.
func (s *PTYServer) Close() error { return nil }

// PTYOptions are the optional settings of a served pty; only Linux has
// ptys.
type PTYOptions struct {
	Mode             fs.FileMode
	GID              int
	ReleaseExclusive bool
}

// ServePTYOptions is only available on Linux.
func ServePTYOptions(ctx context.Context, m *Module, link string, opts PTYOptions) (*PTYServer, error) {
	return nil, errors.ErrUnsupported
}

// PeerServer serves a Module's calls to a peer on a pty; only Linux has
// it.
type PeerServer struct{}

// ServeDataPeer is only available on Linux.
func ServeDataPeer(ctx context.Context, m *Module, link string, opts PTYOptions) (*PeerServer, error) {
	return nil, errors.ErrUnsupported
}

// Path returns "".
func (s *PeerServer) Path() string { return "" }

// TTY returns "".
func (s *PeerServer) TTY() string { return "" }

// Close does nothing.
func (s *PeerServer) Close() error { return nil }

// DeviceServer serves a Module on an existing tty; only Linux has it.
type DeviceServer struct{}

// ServeDevice is only available on Linux.
func ServeDevice(ctx context.Context, m *Module, path, link string) (*DeviceServer, error) {
	return nil, errors.ErrUnsupported
}

// Path returns "".
func (s *DeviceServer) Path() string { return "" }

// Close does nothing.
func (s *DeviceServer) Close() error { return nil }
