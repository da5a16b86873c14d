package modemsim

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// result is what one command of a line does.
type result struct {
	info  []string      // information lines, each sent as \r\n<line>\r\n
	final string        // final result code; "" means OK and the next command runs
	after func()        // runs once the final result is sent (mode changes)
	delay time.Duration // AT+TSLOW: the final result comes this much later
	sms   string        // AT+CMGS/AT+CMGW: prompt "> " and take a message for it
	own   bool          // the answer gets a frame of its own (AT+TBIG)
}

func fail(final string) result { return result{final: final} }

// command is one parsed command of a line.
type command struct {
	name string // upper case: "E", "&F", "D", "+CGMI"
	op   byte   // 0: action or basic; '=': set; '?': read; 't': test (=?)
	arg  string // a basic command's number, the dial string, or set arguments
	val  string // the value of ATS<n>=<val>
}

// execLine runs one command line (without its terminator). over reports
// that the line was longer than maxLine. m.mu held.
func (m *Module) execLine(line string, over bool, now time.Time) {
	if m.lineEdit {
		line = dropSpaces(line)
	}
	// V.250: the DCE ignores whatever comes before "AT".
	i := indexAT(line)
	if i < 0 {
		return
	}
	line = line[i:]
	if !over {
		m.lastLine = line
	}
	m.stats.Commands++
	cmds, ok := parseLine(line[2:])
	if !ok || over {
		m.emitLine("ERROR")
		return
	}
	own := false
	for _, c := range cmds {
		r := m.exec(c, now)
		if r.own {
			m.flush()
			own = true
		}
		for _, l := range r.info {
			m.emitLine(l)
		}
		if r.sms != "" {
			// The prompt, then the text up to Ctrl-Z or ESC; the rest of
			// the line is dropped.
			m.emit("\r\n> ")
			m.sms = smsEntry{cmd: r.sms}
			return
		}
		if r.delay > 0 {
			// The final result comes later; the rest of the line is
			// dropped.
			m.busy = true
			epoch := m.epoch
			m.after(r.delay, func() {
				if m.epoch != epoch {
					return
				}
				m.emitLine("OK")
				m.flush()
				m.endBusy(time.Now())
			})
			return
		}
		if r.final == "" || (r.final == "OK" && r.after == nil) {
			continue
		}
		// An error, or a command that changes the mode: the line ends.
		m.emitLine(r.final)
		if r.after != nil {
			m.flush()
			r.after()
		}
		return
	}
	m.emitLine("OK")
	if own {
		m.flush()
	}
}

// dropSpaces returns line without its spaces outside double quotes.
func dropSpaces(line string) string {
	if !strings.Contains(line, " ") {
		return line
	}
	b := make([]byte, 0, len(line))
	quoted := false
	for i := 0; i < len(line); i++ {
		c := line[i]
		if c == '"' {
			quoted = !quoted
		}
		if c != ' ' || quoted {
			b = append(b, c)
		}
	}
	return string(b)
}

// indexAT returns the index of the first "AT" in line, in any case, or -1.
func indexAT(line string) int {
	for i := 0; i+1 < len(line); i++ {
		if line[i]|0x20 == 'a' && line[i+1]|0x20 == 't' {
			return i
		}
	}
	return -1
}

// parseLine splits what follows "AT" into commands: basic ones (a letter,
// or '&' and a letter, and digits), S-parameters ("S<n>?", "S<n>=<v>"), D
// (the rest of the line), and extended ones ("+NAME", "+NAME?", "+NAME=?",
// "+NAME=args") separated by ';'.
func parseLine(s string) ([]command, bool) {
	var cmds []command
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ';' || c == ' ':
			i++
		case c == '+':
			j := i + 1
			for j < len(s) && isAlnum(s[j]) {
				j++
			}
			if j == i+1 {
				return nil, false
			}
			cmd := command{name: strings.ToUpper(s[i:j])}
			switch {
			case strings.HasPrefix(s[j:], "=?"):
				cmd.op = 't'
				j += 2
			case strings.HasPrefix(s[j:], "?"):
				cmd.op = '?'
				j++
			case strings.HasPrefix(s[j:], "="):
				cmd.op = '='
				k := j + 1
				for quoted := false; k < len(s) && (quoted || s[k] != ';'); k++ {
					if s[k] == '"' {
						quoted = !quoted
					}
				}
				cmd.arg = s[j+1 : k]
				j = k
			}
			if j < len(s) && s[j] != ';' {
				return nil, false
			}
			cmds = append(cmds, cmd)
			i = j
		case c == 'D' || c == 'd':
			cmds = append(cmds, command{name: "D", arg: s[i+1:]})
			i = len(s)
		case c == '&' || isLetter(c):
			j := i + 1
			if c == '&' {
				if j >= len(s) || !isLetter(s[j]) {
					return nil, false
				}
				j++
			}
			name := strings.ToUpper(s[i:j])
			k := skipDigits(s, j)
			cmd := command{name: name, arg: s[j:k]}
			if name == "S" && k < len(s) {
				switch s[k] {
				case '?':
					cmd.op = '?'
					k++
				case '=':
					cmd.op = '='
					v := skipDigits(s, k+1)
					cmd.val = s[k+1 : v]
					k = v
				}
			}
			cmds = append(cmds, cmd)
			i = k
		default:
			return nil, false
		}
	}
	return cmds, true
}

// skipDigits returns the index of the first non-digit in s from i on.
func skipDigits(s string, i int) int {
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}

func isLetter(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }
func isAlnum(c byte) bool  { return isLetter(c) || c >= '0' && c <= '9' }

// splitArgs splits set arguments at commas outside quotes and unquotes them.
func splitArgs(s string) []string {
	var args []string
	start := 0
	quoted := false
	for i := 0; i <= len(s); i++ {
		if i == len(s) || (s[i] == ',' && !quoted) {
			a := strings.TrimSpace(s[start:i])
			if len(a) >= 2 && a[0] == '"' && a[len(a)-1] == '"' {
				a = a[1 : len(a)-1]
			}
			args = append(args, a)
			start = i + 1
			continue
		}
		if s[i] == '"' {
			quoted = !quoted
		}
	}
	return args
}

// intArg parses a whole-number argument in [lo, hi].
func intArg(s string, lo, hi int) (int, bool) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	return n, err == nil && n >= lo && n <= hi
}

// exec runs one command. m.mu held.
func (m *Module) exec(c command, now time.Time) result {
	info := func(lines ...string) result { return result{info: lines} }
	switch c.name {
	case "E":
		switch c.arg {
		case "", "0":
			m.echo = false
		case "1":
			m.echo = true
		default:
			return fail("ERROR")
		}
		return result{}
	case "I":
		text, ok := identification[c.arg]
		if !ok {
			return fail("ERROR")
		}
		return info(text)
	case "H":
		if m.callUp {
			m.callUp = false
			m.event("call end")
			m.callEnded()
		}
		return result{}
	case "Z", "&F":
		m.resetProfile()
		return result{}
	case "V":
		switch {
		case c.arg == "1":
			m.verbose = true
		case m.numeric && (c.arg == "" || c.arg == "0"):
			m.verbose = false
		case c.arg != "":
			return fail("ERROR")
		}
		return result{}
	case "Q":
		if c.arg != "" && c.arg != "0" {
			return fail("ERROR")
		}
		return result{}
	case "S":
		return m.sParam(c)
	case "D":
		return result{final: "CONNECT", after: func() {
			m.stats.Connects++
			m.event("connect")
			m.enterDataMode(now)
		}}
	case "O":
		if !m.callUp {
			return fail("NO CARRIER")
		}
		return result{final: "CONNECT", after: func() {
			m.stats.Connects++
			m.event("connect")
			m.enterDataMode(now)
		}}
	}
	if r, ok := m.basic(c); ok {
		return r
	}
	if c.name == "" || c.name[0] != '+' {
		return fail("ERROR")
	}

	// The security command, the SMS commands with a prompt and the test
	// hooks; every other extended command is in the answer table
	// (probe.go).
	switch c.name {
	case "+CMGS", "+CMGW":
		return m.smsCommand(c)
	case "+USECC2C":
		if c.op == 't' {
			return info("+USECC2C: (0-4)")
		}
		if c.op != '=' {
			return fail("ERROR")
		}
		args := splitArgs(c.arg)
		m.countSec(args[0])
		return m.security(args)
	case "+TSLOW":
		ms, ok := intArg(c.arg, 0, int(maxTSLOW/time.Millisecond))
		if c.op != '=' || !ok {
			return fail("ERROR")
		}
		if ms == 0 {
			return result{}
		}
		return result{delay: time.Duration(ms) * time.Millisecond}
	case "+TURC":
		n, ok := intArg(c.arg, 0, maxTURC)
		if c.op != '=' || !ok {
			return fail("ERROR")
		}
		for i := range n {
			text := "+CREG: 1"
			if i%2 == 1 {
				text = "RING"
			}
			m.ownFrame(m.response(text))
		}
		return result{}
	case "+TBIG":
		n, ok := intArg(c.arg, 0, maxTBIG)
		if c.op != '=' || !ok {
			return fail("ERROR")
		}
		return result{info: []string{bigText(n)}, own: true}
	}
	return m.extended(c)
}

// sParam runs ATS<n>? and ATS<n>=<v> (Config.SRegisters). m.mu held.
func (m *Module) sParam(c command) result {
	var reg *byte
	if m.sregs {
		switch c.arg {
		case "3":
			reg = &m.s3
		case "4":
			reg = &m.s4
		case "5":
			reg = &m.s5
		}
	}
	if reg == nil {
		return fail("ERROR")
	}
	switch c.op {
	case '?':
		return result{info: []string{fmt.Sprintf("%03d", *reg)}}
	case '=':
		v := c.val
		if v == "" {
			v = "0" // V.250: a missing value is 0
		}
		n, ok := intArg(v, 0, 127)
		if !ok {
			return fail("ERROR")
		}
		*reg = byte(n)
		return result{}
	}
	return fail("ERROR")
}

// countSec counts an AT+USECC2C set command by its first argument. m.mu
// held.
func (m *Module) countSec(op string) {
	c := &m.stats.SecCommands
	switch op {
	case "0":
		c.Pair++
	case "1":
		c.Open++
	case "2":
		c.Close++
	case "3":
		c.Rekey++
	case "4":
		c.Confirm++
	default:
		c.Other++
	}
}

// bigText returns n printable characters.
func bigText(n int) string {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[i%len(alphabet)]
	}
	return string(b)
}
