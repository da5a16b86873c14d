package modemsim

import "strconv"

// SMS sending and writing (3GPP TS 27.005): AT+CMGS and AT+CMGW answer the
// prompt "\r\n> " and take the message that follows: text in text mode
// (AT+CMGF=1), a PDU in hex in PDU mode, up to Ctrl-Z, which sends (or
// stores) it, or ESC, which drops it. Nothing is sent anywhere: the
// module answers +CMGS with the next message reference, +CMGW with the
// next storage index.

// Bytes that end a message after the prompt.
const (
	ctrlZ = 0x1A // send or store
	esc   = 0x1B // drop
	// maxSMS bounds the text kept of one message: more is dropped, and
	// the command answers ERROR, as a module does for a message too long.
	maxSMS = 1024
)

// smsEntry is a message being entered after the prompt.
type smsEntry struct {
	cmd  string // "+CMGS" or "+CMGW"; "" when no message is being entered
	n    int    // bytes taken so far
	over bool   // more than maxSMS
}

// smsCommand runs AT+CMGS and AT+CMGW. Text mode wants a destination
// ("+CMGS="+15551234567""), PDU mode a length; the test form answers OK.
// m.mu held.
func (m *Module) smsCommand(c command) result {
	switch c.op {
	case 't':
		return result{}
	case '=':
	default:
		if c.name == "+CMGW" && c.op == 0 {
			return result{sms: c.name} // AT+CMGW: store a message with no address
		}
		return fail("ERROR")
	}
	args := splitArgs(c.arg)
	if len(args) == 0 || args[0] == "" {
		return fail("ERROR")
	}
	return result{sms: c.name}
}

// smsInput takes the bytes of a message after the prompt, echoing them
// when echo is on, and returns how many it took: up to and including the
// Ctrl-Z or ESC that ends the message, or all of p. m.mu held.
func (m *Module) smsInput(p []byte) int {
	for i, b := range p {
		if m.echo {
			m.stage = append(m.stage, b)
		}
		switch b {
		case ctrlZ:
			m.smsDone(true)
			return i + 1
		case esc:
			m.smsDone(false)
			return i + 1
		}
		if m.sms.n < maxSMS {
			m.sms.n++
		} else {
			m.sms.over = true
		}
	}
	return len(p)
}

// smsDone ends a message: sent (or stored) when send, else dropped.
// m.mu held.
func (m *Module) smsDone(send bool) {
	e := m.sms
	m.sms = smsEntry{}
	switch {
	case !send:
		m.event(e.cmd + " cancelled")
		m.emitLine("OK")
	case e.over:
		m.emitLine("ERROR")
	default:
		m.smsRef++
		m.event(e.cmd + " " + strconv.Itoa(e.n) + " bytes")
		m.emitLine(e.cmd + ": " + strconv.Itoa(m.smsRef))
		m.emitLine("OK")
	}
}
