//go:build !linux

package modemsim

import (
	"context"
	"errors"
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
