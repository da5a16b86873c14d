// Package bridge is the session engine of c2cbridge: it sits between a
// plaintext application side (the virtual tty) and the modem's UART, opens
// and closes the C2C secure session, seals what the application writes into
// frames and hands the application only the plaintext of authentic frames.
// docs/protocol.md describes the protocol it speaks.
//
// The package holds no OS code: both sides are small interfaces (App for
// the application, ModemConn for the UART), so it is tested with in-memory
// pipes against modemsim.
//
// # The session state
//
// The engine has one state variable, its phase (a State), moved only by
// the control loop through setPhase, which also reports it to
// Config.OnState:
//
//	starting ──► opening ──► unconfirmed ──► open ◄──► rekeying
//	                ▲                         │
//	                │ backoff                 │ plain answer to a session check
//	                └──── module rebooted ◄───┘
//	                          ▲
//	                          │ plain answer to the probe
//	opening ◄── device back ── module lost ◄── the UART fails (any phase)
//	open ──► closing ──► closed ◄── Run returns (any phase)
//
// The transitions, and what moves them:
//
//	starting        → open             a session left open by a previous run answered
//	starting        → opening          the module answered the plain AT probe: open a session
//	opening         → unconfirmed      the module answered the open (an open cannot tell a wrong key)
//	unconfirmed     → open             an encrypted AT got an authentic answer
//	open            → unconfirmed      a session check runs (a keepalive got no answer, plain text arrived)
//	open            → rekeying         a rekey is due, at an idle point
//	rekeying        → open             the next session answered (or the module refused in the session)
//	rekeying        → opening          the session was lost in the rekey; reopen with backoff
//	open            → module rebooted  a session check got a plain answer (after stray text or a failed keepalive)
//	module rebooted → opening          after the open backoff
//	any             → module lost      the UART failed (a read or write error)
//	module lost     → opening          the device is back: probe it
//	opening         → open             (after a reconnect) the module kept its session: it answered an encrypted AT
//	opening         → module rebooted  (after a reconnect) the module answers in plain text
//	open            → closing          Run's context ends: end a call, AT+USECC2C=2
//	any             → closed           Run returns
//
// "module rebooted" means the module lost the session on a healthy UART (it
// answers in plain text); "module lost" means the UART itself is gone, and
// is the only phase in which Stats.ModemUp is false. Application input
// flows only in "open", and only while the control loop holds none of it
// for a command of its own.
//
// Separate from the phase, the mode (plain or framed) says how downstream
// reads the module: it must flip at the exact byte where the module's
// answer says so (the OK of an open, close or rekey), inside a read.
//
// # Goroutines and owners
//
// Run owns three goroutines. The control loop (Run itself, serve) opens
// the session, waits on one timer for the nearest named deadline (rekeyAt,
// keepaliveAt, suspectUntil) and on the other goroutines' events, and runs
// every command of the bridge's own; every wait it makes also beats
// Config.Heartbeat, so the heartbeat stops only if the engine is stuck.
// upstream reads the application and writes frames; downstream reads the
// modem and writes plaintext to the application. The control loop talks to
// the module through the same two directions: it holds application input
// while its own command is in flight, and downstream hands it the answer.
//
// Each resource has one owner. A link (link.go) is one modem connection and
// its downstream goroutine, and alone closes that connection; the Bridge
// owns the connection New is given and every one Config.Dial returns. A
// key generation (keys.go) holds the secrets, sealer, opener and replay
// window, made, swapped and wiped as one. The counters are those of
// package counters, incremented here and reported by package status.
//
// # Where the rules live
//
//	bridge.go    Config, New, Run, shutdown, Stats
//	phase.go     the states and setPhase
//	control.go   the control loop: events, deadlines, heartbeat, what is due
//	session.go   start-up probe, open, key check, rekey, confirmation
//	recovery.go  keepalive, session check, reopen with backoff, reconnect,
//	             escape and hang-up of data-mode calls
//	keyfile.go   saving secrets; what happens when the key file cannot be written
//	keys.go      key generations
//	link.go      modem connections
//	command.go   the bridge's own commands and their answers
//	upstream.go  application input: pacing, holding, sealing
//	downstream.go module output: frames, replays, stray text, delivery
//	stream.go    following the application's AT stream (idle points)
//	replay.go    the window of seen IVs
package bridge
