// Package modemside is c2cbridge's side of the modem: the real UART in
// front of the u-blox module, and plain-text AT transactions on it.
//
// # The line settings
//
// Config is the one definition of the modem line: the configuration file's
// `modem:` keys (package config embeds it), their defaults (Default) and
// their checks (Validate), and the pacing rule (PaceBaud) the bridge
// applies to upstream frames. A new line setting is a field, a default and
// a check in config.go, nowhere else.
//
// # The port
//
// Open configures the line with go.bug.st/serial (bit rate, data bits,
// parity, stop bits) and takes the device for itself with TIOCEXCL, so no
// other program can open it and write into the encrypted stream. That
// library cannot do everything the bridge needs, so Port keeps two
// descriptors of the same tty:
//
//   - its own descriptor, opened O_NONBLOCK before the library's (so the
//     library's TIOCEXCL cannot lock it out), carries all the I/O. Being
//     non-blocking, it runs on Go's poller: read and write deadlines work,
//     and Close wakes a pending Read and a pending Write. It also sets or
//     clears RTS/CTS flow control (CRTSCTS), which the library always
//     clears and has no setting for; termios belongs to the tty, not to a
//     descriptor, so setting it through either descriptor is the same.
//   - the library's serial.Port, which is never read or written, holds the
//     line settings and the exclusive lock until Close. Its own Read
//     reports a timeout as (0, nil) and its Close cannot wake a blocked
//     Write: neither is acceptable for the bridge, hence the first
//     descriptor.
//
// Root ignores TIOCEXCL. So that two bridges run as root cannot share a
// line either, Open refuses (ErrBusy) a device that already has the
// exclusive flag set.
//
// # Transactions
//
// Transactor sends a command in plain text and collects its answer up to
// the final result code, on top of package at. It works on anything that
// reads, writes and has read deadlines (DeadlineReadWriter): a Port, a pty
// or an in-memory pipe in tests. Bytes that arrive in the same read as the
// final result (the start of the first C2C frame after the open's OK, say)
// are kept for the caller: see Transactor.Leftover and Transactor.Read.
package modemside
