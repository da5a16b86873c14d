// Package modemsim is a simulated u-blox SARA-R5 cellular module: the far
// end of the UART that c2cbridge talks to. Tests, the demo and the
// benchmarks run against it, so it behaves like the module as far as
// docs/protocol.md knows, and misbehaves on demand.
//
// # The model
//
// A Module holds the state of one module: its pairing (secrets, whether a
// V2 pairing is confirmed), its AT settings (echo, AT+CMEE), the C2C
// session if one is open, data mode, and counters. It serves one line at a
// time with Serve, over any io.ReadWriter; its state outlives a Serve call,
// as a real module outlives the USB-serial adapter in front of it.
// ServePTY serves it on a pseudo-terminal whose slave is linked at a path,
// so that the bridge opens it like a UART; PTYServer.Unplug makes that
// adapter vanish and come back.
//
// Outside a session the module speaks plain AT text. Commands end at CR; a
// LF, and anything before the "AT" of a line, is ignored (as V.250 says);
// echo is off unless Config.Echo or ATE1. Answers are framed the usual way,
// byte for byte:
//
//	AT\r                 -> \r\nOK\r\n
//	AT+CGMI\r            -> \r\nu-blox\r\n\r\nOK\r\n
//	AT+CGMM\r            -> \r\nSARA-R510M8S\r\n\r\nOK\r\n
//	AT+CGMR\r            -> \r\n03.15\r\n\r\nOK\r\n
//	AT+CSQ\r             -> \r\n+CSQ: 20,99\r\n\r\nOK\r\n
//	ATI\r                -> \r\nManufacturer: u-blox\r\nModel: SARA-R510M8S\r\nRevision: 03.15\r\nIMEI: 004401083500000\r\n\r\nOK\r\n
//	AT+NOPE\r            -> \r\nERROR\r\n
//	ATE1, then AT\r      -> AT\r\r\nOK\r\n (the echo, then the answer)
//	AT+CMEE=2;+CGMI\r    -> \r\nu-blox\r\n\r\nOK\r\n (commands chain with ';')
//	ATD*99#\r            -> \r\nCONNECT\r\n, then data mode
//	AT+CFUN=16\r         -> \r\nOK\r\n, then a reboot and \r\nRDY\r\n
//
// Also known: ATE0, ATH, ATZ, AT&F, ATV1, ATQ0, ATO (back to a call left
// with +++), ATI9 (revision and application version), ATX0-4, AT&C0-1 and
// AT&D0-2 (remembered; ATZ, AT&F and a reboot restore X4, &C1, &D1); with
// the options below ATV0 and ATS. Anything else answers ERROR.
//
// # The answer table
//
// Every other extended command is a row of one table (probe.go), answered
// in the formats of the SARA-R5 AT commands manual: what ModemManager 1.20
// (generic and u-blox plugin) sends to probe and initialize a modem, so
// that it adopts the module. Each row answers some of the forms AT+X,
// AT+X?, AT+X=? and AT+X=<args>; the others answer ERROR. For example:
//
//	AT+GCAP              -> +GCAP: +CGSM
//	AT+CPIN?             -> +CPIN: READY
//	AT+CSCS? / =?        -> +CSCS: "IRA" / +CSCS: ("IRA","GSM","UCS2"); AT+CSCS="<set>" selects one
//	AT+URAT=? / ?        -> +URAT: (7,8),(7,8) / +URAT: 7 (7 LTE Cat M1, 8 NB-IoT)
//	AT+CLCC=?, AT+CLCC   -> OK (no call listed)
//	AT+UDTMFD=?          -> +UDTMFD: (0,1),(0-3)
//	AT+CREG?             -> +CREG: 0,1 (AT+CREG=2: +CREG: 2,1,"0001","01A2D001",7; so +CGREG, +CEREG)
//	AT+COPS?             -> +COPS: 0,0,"modemsim",7 (format per AT+COPS=3,<f>; AT+COPS=2 deregisters)
//
// and AT+CGMI/+CGMM/+CGMR/+CGSN and their +G forms, AT+CMEE, AT+CFUN,
// AT+CIMI, AT+CCID, AT+CNUM, AT+UPINCNT, AT+CLCK, AT+CRSM, AT+UBANDMASK?,
// AT+USIO?, AT+CSQ, AT+CESQ, AT+CIND, AT+CMER, AT+CGEREP, AT+CTZU,
// AT+CCLK?, AT+CGDCONT, AT+CGACT?, AT+CGATT?, AT+CMGF, AT+CNMI, AT+CPMS,
// AT+CMGL (no messages), AT+UCALLSTAT. A setting's set form takes the
// values its test answer lists, and its read form reports them. The
// module is registered (stat 1) while AT+CFUN is 1 and AT+COPS is not 2.
// A reboot restores every setting but AT+URAT and the PDP context, which a
// real module keeps in non-volatile memory.
//
// # V.250 options
//
// The defaults above keep the module simple for the tests that build on
// it; these Config options make it behave as V.250 says where a host that
// checks what an application writes must not be fooled. Each is off by
// default.
//
//   - Echo: echo is on after start, a reboot, ATZ and AT&F, as on a real
//     module at power-up.
//   - LineEditing: the S5 character deletes the previous one; every other
//     control character (0x00-0x1F and DEL, except S3) is dropped, and so
//     are spaces outside quotes: AT+USECX<BS>C2C=3, AT+USEC<0x01>C2C=3 and
//     AT+USEC C2C=3 all run AT+USECC2C=3.
//   - SRegisters: ATS3=<n> (the terminator), ATS4=<n> (the formatting
//     character) and ATS5=<n> (the editing character), 0-127, a missing
//     value being 0; ATS<n>? answers three digits, "\r\n013\r\n". Lines
//     end at S3, results are framed with S3 and S4 (the answer to ATS3=33
//     already ends with '!'); ATZ, AT&F and a reboot restore 13, 10, 8.
//   - RepeatLine: "A/" or "a/" (after nothing but noise) runs the last
//     command line the module executed again, at the '/', with no
//     terminator, whoever sent that line; a reboot forgets it.
//   - NumericResults: ATV0 (or ATV) and ATV1. With V0 the basic result
//     codes are a number and S3 (0 OK, 1 CONNECT, 2 RING, 3 NO CARRIER,
//     4 ERROR, 6 NO DIALTONE, 7 BUSY, 8 NO ANSWER: "0\r"), information
//     text and other results (+CME ERROR) are the text, S3 and S4
//     ("u-blox\r\n0\r"). ATZ, AT&F and a reboot restore V1.
//
// Always, whatever the options: commands chain (ATE0+USECC2C=3 and
// AT+CMEE=2;+USECC2C=3 run the security command), and the escape from
// data mode is timed per byte (see "Data mode").
//
// Errors of the security commands follow AT+CMEE (0 after a reboot): with 0
// they are \r\nERROR\r\n, with 1 \r\n+CME ERROR: <n>\r\n, with 2
// \r\n+CME ERROR: <text>\r\n. The texts and numbers are "operation not
// allowed" (3) and "SEC busy" (100; the real number is not public).
//
// # C2C security commands (docs/protocol.md, "Security commands")
//
//	AT+USECC2C=0,"<te>"          pair: \r\n+USECC2C: 0,0,"<KEY>","<HMAC>","<TAG>"\r\n\r\nOK\r\n (V2)
//	                             or \r\n+USECC2C: 0,0,"<KEY>"\r\n\r\nOK\r\n (V1); hex is upper case.
//	                             Only when Config.Pairable (see SetPairable); else "operation not allowed".
//	                             A new pairing replaces the previous one.
//	AT+USECC2C=4,"<te>","<enc>"  confirm a V2 pairing: OK; a wrong te_secret or tag answers a bare
//	                             ERROR; "operation not allowed" when no V2 pairing awaits confirmation.
//	AT+USECC2C=1,"<te>"          open: plain OK, and from the byte after the CR both directions are
//	                             framed. A wrong te_secret, no pairing, an unconfirmed V2 pairing or
//	                             an open session: "operation not allowed".
//	AT+USECC2C=2                 close, in a session only: OK in a frame, then plain text.
//	AT+USECC2C=3                 rekey, in a session only. RekeySame: OK in a frame, session ends,
//	                             secrets unchanged. RekeyNew: \r\n+USECC2C: 3,0,"<KEY>"[,"<HMAC>"]\r\n
//	                             \r\nOK\r\n in frames, session ends, the next open uses the new key
//	                             and hmac_key with the same te_secret.
//
// Outside a session, ops 2 and 3 answer "operation not allowed". SetBusy(n)
// makes the next n security commands (any op) answer "SEC busy" instead.
// Stats.SecCommands counts every AT+USECC2C set command the module ran, by
// op, whatever it answered, so that a test can check that the module ran
// none its host did not mean to send.
//
// # Sessions
//
// In a session every byte the module sends is sealed (answers, echo, data,
// unsolicited result codes, RDY excepted: a reboot ends the session
// first). The plaintext of one input read is answered in one frame where
// it fits Config.MaxFrame; AT+TBIG and every unsolicited result code get a
// frame of their own. Host frames may carry at most 255 bytes of plaintext
// (docs/protocol.md, "Sizes"): longer ones are rejected like corrupt
// ones. The plaintext of authentic host frames is one AT byte stream, split
// anywhere.
// Bytes outside an authentic frame are never executed: plain bytes count in
// Stats.PlainBytesInSession (a well-behaved host keeps it at 0; note that a
// LF sent after the CR of the open command is such a byte), rejected frames
// in MACFailures, FCSFailures or OtherRejects.
//
// # Data mode
//
// ATD answers CONNECT and loops every data byte back (framed in a session,
// the bytes of one read coalesced into as few frames as fit; with
// Config.Network it goes to the network instead, below). The escape is
// "+++" with a quiet guard (Config.EscapeGuard, 1 s by default) on both
// sides: no data byte for a guard time before the first '+', the three
// '+' less than a guard time apart, and none after for a guard time, timed
// per byte however the bytes are split into reads or frames ("+", a pause
// shorter than the guard, "++" is an escape; bytes of one read arrive
// together). Then
// the module answers OK and goes to command mode with the call still up
// (ATO returns to it, ATH ends it). The three '+' of an escape are not
// looped back; '+' that turn out not to be an escape are looped back late,
// when the next byte comes or the guard expires. DropCall ends the call
// with NO CARRIER.
//
// # The network
//
// A module made with Config.Network carries a call's data to a network
// instead of looping it back: ServeNetwork serves it over any
// io.ReadWriter, ServeDataPeer on a pty where a peer program (pppd) plays
// the operator's network. Host data of a call goes to the network, and
// the network's bytes reach the host only in data mode; anything else is
// dropped (Stats.NetworkDropped), as is the data of a call while no
// network is served. A network that hangs up during a call drops it (NO
// CARRIER); a call that ends on the module's side (ATH, DropCall, a
// reboot) ends ServeNetwork with ErrCallEnded, and ServeDataPeer then hangs
// the peer up and links a fresh pty.
//
// # Lines
//
// Serve takes any io.ReadWriter. ServePTY (and ServePTYOptions, which sets
// the pty's group and mode as udev does a real UART's) plays a USB-serial
// adapter on a pty; ServeDevice serves an existing tty, such as a USB
// gadget's /dev/ttyGS0, and reopens it after a hang-up (the gadget was
// unbound) while the module keeps its session and call.
//
// # Test hooks
//
// Commands: AT+TSLOW=<ms> answers OK after ms milliseconds (bytes received
// meanwhile wait, as they would on a busy module); AT+TURC=<n> sends n
// unsolicited result codes, "+CREG: 1" and "RING" by turns, each in a frame
// of its own in a session, then OK; AT+TBIG=<n> answers
// \r\n<n printable characters>\r\n\r\nOK\r\n, all in one frame in a
// session when it fits Config.MaxFrame.
//
// Methods, safe to call from any goroutine while serving: SetBusy,
// SetFaults (bit flips and dropped bytes at a rate per byte, each
// direction), InjectPlain, ReplayFrame (the last frame sealed),
// RecordNextFrame and ReplayRecorded (a frame kept across sessions,
// reboots and rekeys, for replays after a reopen), SendURC, DropCall,
// Reboot, SetBaud, SetPairable, SetRekeyMode; on a PTYServer, Unplug and
// ClearExclusive. Stats, Events and WaitFor observe.
//
// # Events
//
// Events returns the last 1024 events, oldest first. Their texts are:
// "serve", "serve end", "pair V1", "pair V2", "confirm", "confirm
// refused", "open", "open refused", "close", "rekey same", "rekey new",
// "sec busy", "reboot", "rdy", "connect", "escape", "no carrier"
// (DropCall, or the network hung up), "call end" (ATH), "inject",
// "record" (RecordNextFrame kept a frame), "replay", "unplug", "replug" (a PTYServer's Unplug, a DeviceServer's
// hang-up and reopen), "network" and "network end" (a ServeNetwork starts
// and ends), "network hangup" (the network failed during a call).
// Secrets never appear in an event or a log line.
package modemsim
