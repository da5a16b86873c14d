package bridge

import (
	"fmt"
	"sync"
	"time"
)

// link is one connection to the module's UART together with the
// downstream goroutine that reads it. The link alone closes its
// connection: when downstream fails, when a writer reports a failure
// (fail), or when the control loop is done with it (stop). The Bridge
// holds the current link under mu; the control loop replaces it after a
// reconnect, once the old one has stopped.
type link struct {
	conn ModemConn
	done chan struct{} // closed when downstream has exited

	closeOnce sync.Once
	mu        sync.Mutex
	err       error // why the link failed; nil while it works
	stopping  bool  // stop was called: downstream exits quietly
}

// newLink makes conn a link to the module; the caller starts its
// downstream goroutine (go b.downstream(l)).
func newLink(conn ModemConn) *link {
	return &link{conn: conn, done: make(chan struct{})}
}

// currentLink returns the link in use.
func (b *Bridge) currentLink() *link {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.link
}

// fail records why the connection failed (the first reason wins) and
// closes it, which ends downstream: the control loop sees done and
// reconnects.
func (l *link) fail(err error) {
	l.mu.Lock()
	if l.err == nil {
		l.err = err
	}
	l.mu.Unlock()
	l.close()
}

// failed reports whether the link has failed.
func (l *link) failed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err != nil
}

// cause returns why the link failed, for a log line.
func (l *link) cause() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err == nil {
		return fmt.Errorf("%w: stopped", ErrModemLost)
	}
	return l.err
}

// armRead sets the deadline of downstream's next read and reports
// whether downstream should read at all (false once stop was called).
func (l *link) armRead(deadline time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopping {
		return false
	}
	l.conn.SetReadDeadline(deadline)
	return true
}

// stop ends downstream, waits for it and closes the connection. It is
// idempotent.
func (l *link) stop() {
	l.mu.Lock()
	l.stopping = true
	// A read deadline in the past ends a pending read; armRead cannot
	// move it again.
	l.conn.SetReadDeadline(time.Unix(1, 0))
	l.mu.Unlock()
	<-l.done
	l.close()
}

func (l *link) close() { l.closeOnce.Do(func() { l.conn.Close() }) }
