// Package bridge is the session engine of c2cbridge: it sits between a
// plaintext application side (the virtual tty) and the modem's UART, opens
// and closes the C2C secure session, seals what the application writes into
// frames and hands the application only the plaintext of authentic frames.
//
// The package holds no OS code: both sides are small interfaces (an
// io.ReadWriter for the application, a ModemConn for the UART), so it is
// tested with in-memory pipes against modemsim.
//
// # Goroutines
//
// Run owns three goroutines: upstream reads the application and writes
// frames to the modem, downstream reads the modem and writes plaintext to the
// application, and the control loop (Run itself) opens the session, runs
// timers and shuts down. The control loop talks to the module through the
// same two directions: it holds application input while its own command is
// in flight, and downstream hands it the answer.
package bridge
