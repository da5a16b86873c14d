package modemsim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// The network: the far end of a call. By default a call loops its data
// back; a module made with Config.Network carries it instead to whatever
// ServeNetwork serves (ServeDataPeer: a pty where a peer pppd plays the
// operator's network).

// Errors of ServeNetwork; callers tell them apart with errors.Is.
var (
	// ErrCallEnded is returned by ServeNetwork when the call it carried
	// ended on the module's side (ATH, DropCall, a reboot): the network
	// side of the call is over, and its line should be hung up.
	ErrCallEnded = errors.New("modemsim: the call ended")
	// ErrNoNetwork is returned by ServeNetwork on a module made without
	// Config.Network.
	ErrNoNetwork = errors.New("modemsim: module has no network (Config.Network)")
)

// netConn is one ServeNetwork call.
type netConn struct {
	wake   chan struct{} // data for the network queued; buffered
	cancel context.CancelCauseFunc
}

// ServeNetwork carries the data of calls to and from rw, the network,
// until ctx is done (it returns the context's cause), Close is called
// (ErrClosed), a call ends on the module's side (ErrCallEnded) or rw fails
// (the wrapped error, io.EOF included: the peer hung up). While it runs,
// data-mode bytes from the host go to rw instead of being looped back, and
// bytes read from rw reach the host while the module is in data mode; the
// rest (no call, or a call left with +++) is dropped, as a network drops
// packets for a line nobody dialled. When rw fails during a call the
// module drops the call with NO CARRIER. Only one ServeNetwork runs at a
// time; without one, the data of a call is dropped.
func (m *Module) ServeNetwork(ctx context.Context, rw io.ReadWriter) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	nc := &netConn{wake: make(chan struct{}, 1), cancel: cancel}
	m.mu.Lock()
	switch {
	case m.closed:
		m.mu.Unlock()
		return ErrClosed
	case !m.netMode:
		m.mu.Unlock()
		return ErrNoNetwork
	case m.network != nil:
		m.mu.Unlock()
		return ErrServing
	}
	m.network = nc
	m.netq = m.netq[:0]
	m.event("network")
	m.mu.Unlock()

	// The first error of the line, if it is what ended the serving.
	var (
		lineMu  sync.Mutex
		lineErr error
	)
	failed := func(err error) {
		if err == nil {
			return
		}
		lineMu.Lock()
		if lineErr == nil {
			lineErr = err
		}
		lineMu.Unlock()
		cancel(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { failed(m.netReadLoop(ctx, rw)) })
	wg.Go(func() { failed(m.netWriteLoop(ctx, nc, rw)) })
	<-ctx.Done()
	restore := interrupt(rw)
	wg.Wait()
	restore()

	cause := context.Cause(ctx)
	m.mu.Lock()
	m.network = nil
	m.stats.NetworkDropped += uint64(len(m.netq))
	m.netq = m.netq[:0]
	m.event("network end")
	if lineErr != nil && cause == lineErr && m.callUp && !m.closed {
		m.event("network hangup")
		m.dropCall()
	}
	m.mu.Unlock()
	return cause
}

// netReadLoop reads the network and passes its bytes on until ctx ends or
// the read fails.
func (m *Module) netReadLoop(ctx context.Context, r io.Reader) error {
	buf := make([]byte, readSize)
	for {
		k, err := r.Read(buf)
		if ctx.Err() != nil {
			return nil
		}
		if k > 0 {
			m.mu.Lock()
			m.fromNetwork(buf[:k])
			m.mu.Unlock()
			if werr := m.waitOutput(ctx); werr != nil {
				return nil
			}
		}
		if err != nil {
			return fmt.Errorf("modemsim: network read: %w", err)
		}
	}
}

// waitOutput waits while the host's output queue is above the high-water
// mark, so a network faster than the host's line slows down, as flow
// control would.
func (m *Module) waitOutput(ctx context.Context) error {
	t := time.NewTicker(pollEvery)
	defer t.Stop()
	for {
		m.mu.Lock()
		full := len(m.outq) > highWater
		m.mu.Unlock()
		if !full {
			return nil
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// netWriteLoop writes the data queued for the network until ctx ends or a
// write fails.
func (m *Module) netWriteLoop(ctx context.Context, nc *netConn, w io.Writer) error {
	var buf []byte
	for {
		m.mu.Lock()
		for len(m.netq) == 0 {
			m.mu.Unlock()
			select {
			case <-nc.wake:
			case <-ctx.Done():
				return nil
			}
			m.mu.Lock()
		}
		buf, m.netq = m.netq, buf[:0]
		m.signalSpace()
		m.mu.Unlock()
		for p := buf; len(p) > 0; {
			k, err := w.Write(p[:min(len(p), writeSize)])
			m.mu.Lock()
			m.stats.NetworkOut += uint64(k)
			m.mu.Unlock()
			if ctx.Err() != nil {
				return nil
			}
			if err != nil {
				return fmt.Errorf("modemsim: network write: %w", err)
			}
			p = p[k:]
		}
	}
}

// callData takes data-mode bytes from the host, after the escape
// detection: looped back, or to the network. m.mu held.
func (m *Module) callData(p []byte) {
	switch {
	case len(p) == 0:
	case !m.netMode:
		m.stage = append(m.stage, p...)
	case m.network == nil:
		m.stats.NetworkDropped += uint64(len(p))
	default:
		m.netq = append(m.netq, p...)
		select {
		case m.network.wake <- struct{}{}:
		default:
		}
	}
}

// fromNetwork takes bytes the network sent: to the host in data mode,
// dropped otherwise. m.mu held.
func (m *Module) fromNetwork(p []byte) {
	m.stats.NetworkIn += uint64(len(p))
	if !m.dataMode || !m.callUp || m.down {
		m.stats.NetworkDropped += uint64(len(p))
		return
	}
	m.stage = append(m.stage, p...)
	m.flush()
}

// callEnded tells the network that the call ended on the module's side.
// m.mu held.
func (m *Module) callEnded() {
	if m.network != nil {
		m.network.cancel(ErrCallEnded)
	}
}

// signalSpace tells the host's reader that a queue drained. m.mu held.
func (m *Module) signalSpace() {
	if m.conn == nil {
		return
	}
	select {
	case m.conn.space <- struct{}{}:
	default:
	}
}
