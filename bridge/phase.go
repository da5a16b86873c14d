package bridge

import "time"

// State is the session state: the engine's phase, reported to
// Config.OnState and in Stats. The package documentation draws the
// transitions.
type State string

// Session states.
const (
	// StateStarting: Run has not probed the module yet.
	StateStarting State = "starting"
	// StateOpening: probing the module and opening the session.
	StateOpening State = "opening"
	// StateUnconfirmed: a session was opened (or a check of it is under
	// way) but no authentic answer has proved it yet; application input
	// is held.
	StateUnconfirmed State = "unconfirmed"
	// StateOpen: the session is open, proved by an authentic answer, and
	// application bytes flow.
	StateOpen State = "open"
	// StateRekeying: AT+USECC2C=3 and the next open are under way.
	StateRekeying State = "rekeying"
	// StateModuleRebooted: the module lost the session on a healthy UART
	// (it answers in plain text); the bridge is about to reopen it.
	StateModuleRebooted State = "module rebooted"
	// StateModemLost: the UART is gone (an unplugged adapter); the bridge
	// reopens the device. The only state in which the module is not
	// attached.
	StateModemLost State = "module lost"
	// StateClosing: shutting down: ending a call, closing the session.
	StateClosing State = "closing"
	// StateClosed: Run has ended.
	StateClosed State = "closed"
)

// phase is the engine's one state variable and when it was entered. Only
// the control loop moves it, through setPhase; other goroutines read it
// under mu.
type phase struct {
	state State
	since time.Time
}

// setPhase moves the engine to s and reports a change to Config.OnState.
// Only the control loop calls it.
func (b *Bridge) setPhase(s State) {
	b.mu.Lock()
	changed := b.phase.state != s
	if changed {
		b.phase = phase{state: s, since: time.Now()}
	}
	b.mu.Unlock()
	if changed {
		b.notifyState()
	}
}

// notifyState calls Config.OnState with the current state.
func (b *Bridge) notifyState() {
	if b.cfg.OnState != nil {
		b.cfg.OnState(b.state())
	}
}

// state returns the current phase.
func (b *Bridge) state() State {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.phase.state
}
