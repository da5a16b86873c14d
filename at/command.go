package at

import (
	"errors"
	"fmt"
	"strings"
)

// CommandKind says which V.250 command form a Command has.
type CommandKind uint8

// The command forms ParseCommandLine knows (V.250 §5.3 and §5.4, and the
// u-blox backslash form).
const (
	// KindBasic is a letter with an optional number: E0, V1, Z, H, I0.
	KindBasic CommandKind = iota + 1
	// KindAmpersand is & and a letter with an optional number: &F, &C1.
	KindAmpersand
	// KindBackslash is \ and a letter with an optional number: \Q3, the
	// u-blox flow control command.
	KindBackslash
	// KindSRead reads an S-parameter: S12?, or S12 alone (which selects the
	// register on some modems and changes nothing).
	KindSRead
	// KindSWrite writes an S-parameter: S0=0.
	KindSWrite
	// KindDial is D and its dial string, which runs to the end of the line.
	KindDial
	// KindAction is an extended command without arguments: +CSQ.
	KindAction
	// KindSet is an extended command with = and arguments: +CMEE=2.
	KindSet
	// KindRead reads an extended parameter: +CMEE?.
	KindRead
	// KindTest asks for the values an extended command takes: +CMEE=?.
	KindTest
)

// extended reports whether k is one of the extended command forms.
func (k CommandKind) extended() bool {
	return k == KindAction || k == KindSet || k == KindRead || k == KindTest
}

// String names the kind for logs and test messages.
func (k CommandKind) String() string {
	switch k {
	case KindBasic:
		return "basic"
	case KindAmpersand:
		return "ampersand"
	case KindBackslash:
		return "backslash"
	case KindSRead:
		return "S-read"
	case KindSWrite:
		return "S-write"
	case KindDial:
		return "dial"
	case KindAction:
		return "action"
	case KindSet:
		return "set"
	case KindRead:
		return "read"
	case KindTest:
		return "test"
	}
	return "unknown"
}

// Command is one command of a command line, in canonical form.
type Command struct {
	// Name is the upper-case name: "E", "&C", "\Q", "S3", "D", "+CMEE".
	Name string
	Kind CommandKind
	// Arg is the argument text in canonical form: the number of a basic,
	// ampersand or backslash command as typed ("" when absent, which V.250
	// reads as 0); the value of an S-parameter write; the dial string of D,
	// with its trailing ';' if any; the arguments after '=' of an extended
	// set command. It is "" for the other forms. It may hold secrets: never
	// log it.
	Arg string
}

// Args splits the arguments of an extended set command at the commas that
// are not inside quotes. Quoted arguments keep their quotes. It returns nil
// when Arg is empty.
func (c Command) Args() []string {
	if c.Arg == "" {
		return nil
	}
	var args []string
	quoted, start := false, 0
	for i := 0; i < len(c.Arg); i++ {
		switch c.Arg[i] {
		case '"':
			quoted = !quoted
		case ',':
			if !quoted {
				args = append(args, c.Arg[start:i])
				start = i + 1
			}
		}
	}
	return append(args, c.Arg[start:])
}

// CommandLine is a parsed command line.
type CommandLine struct {
	// Canonical is the line as Canonical returns it. It may hold secrets:
	// log it only through Redact. Forwarding Canonical (then
	// CommandTerminator) rather than the edited text has the module run
	// byte for byte what was checked, whatever it makes of spaces (V.250
	// has it ignore them; a module that did not could read ATV 1 as V, that
	// is V0); the module's echo then shows the canonical form.
	Canonical string
	// Commands are the commands after the AT prefix, in order. A bare AT
	// has none.
	Commands []Command
}

// Errors of ParseCommandLine; callers tell them apart with errors.Is.
var (
	// ErrEmptyLine is returned for a line with nothing but spaces. A
	// module ignores such a line: it is not a refusal.
	ErrEmptyLine = errors.New("empty command line")
	// ErrNotAT is returned for a line that does not start with AT or at,
	// after optional spaces.
	ErrNotAT = errors.New("not an AT command")
	// ErrSyntax is wrapped by every *SyntaxError.
	ErrSyntax = errors.New("command line syntax error")
)

// SyntaxError reports a line ParseCommandLine cannot parse safely. Its
// message names no argument text, which may be a secret.
type SyntaxError struct {
	// Offset is the byte offset of the problem in the canonical line, or in
	// the edited line for a control or non-ASCII byte.
	Offset int
	// Reason says what is wrong, without quoting the line.
	Reason string
}

// Error implements error.
func (e *SyntaxError) Error() string {
	return fmt.Sprintf("%v at offset %d: %s", ErrSyntax, e.Offset, e.Reason)
}

// Unwrap makes errors.Is(err, ErrSyntax) true.
func (e *SyntaxError) Unwrap() error { return ErrSyntax }

// Canonical returns the form of an edited command line that the bridge
// checks: outside double quotes, spaces are dropped (a module ignores them)
// and letters are upper-cased (a module reads commands in any case); inside
// quotes, every byte is kept. A quote left open runs to the end of the line.
func Canonical(edited string) string {
	b := make([]byte, 0, len(edited))
	quoted := false
	for i := 0; i < len(edited); i++ {
		c := edited[i]
		switch {
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == ' ':
			continue
		case 'a' <= c && c <= 'z':
			c -= 'a' - 'A'
		}
		b = append(b, c)
	}
	return string(b)
}

// Limits of the parser, tighter than V.250's so that no number is read two
// ways: a longer or zero-padded number is refused.
const (
	maxBasicDigits  = 3  // E0, I9, Z1, S12
	maxSValueDigits = 3  // S-parameter values are 0-255
	maxExtendedName = 16 // V.250 §5.4.1: up to 16 characters after the +
)

// ParseCommandLine parses an edited command line (a Line's Text) as a module
// would execute it: the AT prefix (after optional spaces), then basic commands (a letter
// and an optional number), & and \ commands, S-parameters (S3=13, S12?),
// D with its dial string, and extended commands (+NAME, +NAME=args, +NAME?,
// +NAME=?), chained as V.250 §5.3 and §5.4 chain them; an extended command
// ends at a ';' outside quotes or at the end of the line, and a ';' may also
// follow any other command. Spaces outside quotes are ignored.
//
// It refuses, rather than guesses, what a module might read another way: a
// control or non-ASCII byte anywhere; a quote left open; a ';' inside a dial
// string or right after another; a zero-padded or over-long number; vendor
// prefixes other than + & \; and, outside quotes in extended arguments, any
// byte that could start a command (letters, + & \ = ?). It returns
// ErrEmptyLine for a blank line, ErrNotAT for a line without the AT prefix,
// and a *SyntaxError otherwise.
//
// The prefix must be AT or at, its two letters together: a module that does
// not take the line's first two letters for its prefix (A T, or aT and At
// under autobauding, which u-blox documents) skips ahead to the next AT it
// finds, which may sit inside an argument the bridge read as quoted text.
func ParseCommandLine(edited string) (CommandLine, error) {
	for i := 0; i < len(edited); i++ {
		if c := edited[i]; c < 0x20 || c >= 0x7f {
			return CommandLine{}, &SyntaxError{Offset: i, Reason: "control or non-ASCII byte"}
		}
	}
	canon := Canonical(edited)
	if canon == "" {
		return CommandLine{}, ErrEmptyLine
	}
	if p := strings.TrimLeft(edited, " "); !strings.HasPrefix(p, "AT") && !strings.HasPrefix(p, "at") {
		return CommandLine{}, ErrNotAT
	}
	p := parser{s: canon, i: len("AT")}
	cmds, err := p.commands()
	if err != nil {
		return CommandLine{}, err
	}
	return CommandLine{Canonical: canon, Commands: cmds}, nil
}

// parser reads the commands of a canonical line after its AT prefix.
type parser struct {
	s string
	i int
}

func (p *parser) fail(reason string) error {
	return &SyntaxError{Offset: p.i, Reason: reason}
}

func (p *parser) commands() ([]Command, error) {
	var cmds []Command
	for p.i < len(p.s) {
		if p.s[p.i] == ';' {
			return nil, p.fail("empty command before ;")
		}
		c, err := p.command()
		if err != nil {
			return nil, err
		}
		cmds = append(cmds, c)
		switch {
		case p.i == len(p.s):
		case p.s[p.i] == ';':
			p.i++
		case c.Kind.extended():
			return nil, p.fail("extended command " + c.Name + " not followed by ; or the end of the line")
		}
	}
	return cmds, nil
}

func (p *parser) command() (Command, error) {
	start := p.i
	c := p.s[p.i]
	switch {
	case c == '+':
		return p.extended()
	case c == 'D':
		return p.dial()
	case c == 'S':
		return p.sParameter()
	case c == '&' || c == '\\':
		p.i++
		if p.i == len(p.s) || !isUpper(p.s[p.i]) {
			return Command{}, p.fail("no letter after & or \\")
		}
		p.i++
		kind := KindAmpersand
		if c == '\\' {
			kind = KindBackslash
		}
		return p.basic(start, kind)
	case isUpper(c):
		p.i++
		return p.basic(start, KindBasic)
	}
	return Command{}, p.fail("not the start of a command")
}

// basic reads the optional number of a basic, ampersand or backslash command
// whose name is p.s[start:p.i].
func (p *parser) basic(start int, kind CommandKind) (Command, error) {
	name := p.s[start:p.i]
	num := p.digits()
	if len(num) > maxBasicDigits || (len(num) > 1 && num[0] == '0') {
		return Command{}, p.fail("zero-padded or over-long number after " + name)
	}
	return Command{Name: name, Kind: kind, Arg: num}, nil
}

// sParameter reads S<n>, S<n>? or S<n>=<value>.
func (p *parser) sParameter() (Command, error) {
	start := p.i
	p.i++
	num := p.digits()
	if num == "" || len(num) > maxBasicDigits || (len(num) > 1 && num[0] == '0') {
		return Command{}, p.fail("S not followed by a register number")
	}
	c := Command{Name: p.s[start:p.i], Kind: KindSRead}
	if p.i == len(p.s) {
		return c, nil
	}
	switch p.s[p.i] {
	case '?':
		p.i++
	case '=':
		p.i++
		v := p.digits()
		if v == "" || len(v) > maxSValueDigits {
			return Command{}, p.fail("no value or an over-long one after " + c.Name + "=")
		}
		c.Kind, c.Arg = KindSWrite, v
	}
	return c, nil
}

// dial reads D and its dial string: the rest of the line, where a ';' may
// only come last. Outside quotes it allows digits, the V.250 and 3GPP dial
// modifiers, a leading +, and letters only after > (a phonebook name):
// nothing a module could take for the start of another command.
func (p *parser) dial() (Command, error) {
	p.i++
	start := p.i
	quoted, memory := false, false
	for ; p.i < len(p.s); p.i++ {
		c := p.s[p.i]
		switch {
		case c == '"':
			quoted = !quoted
		case c == ';':
			if quoted || p.i != len(p.s)-1 {
				return Command{}, p.fail("; inside a dial string: D must end the line")
			}
		case quoted:
			if err := p.escape(); err != nil {
				return Command{}, err
			}
		case c == '>':
			memory = true
		case c == '+' && p.i == start:
		case '0' <= c && c <= '9', strings.IndexByte("*#ABCDTPWLIG,!@-().", c) >= 0:
		case memory && isUpper(c):
		default:
			return Command{}, p.fail("byte not allowed in a dial string")
		}
	}
	if quoted {
		return Command{}, p.fail("quote left open in a dial string")
	}
	return Command{Name: "D", Kind: KindDial, Arg: p.s[start:]}, nil
}

// extended reads +NAME and its form.
func (p *parser) extended() (Command, error) {
	start := p.i
	p.i++
	if p.i == len(p.s) || !isUpper(p.s[p.i]) {
		return Command{}, p.fail("no name after +")
	}
	for p.i < len(p.s) && (isUpper(p.s[p.i]) || isDigit(p.s[p.i])) {
		p.i++
	}
	c := Command{Name: p.s[start:p.i], Kind: KindAction}
	if len(c.Name)-1 > maxExtendedName {
		return Command{}, p.fail("extended name longer than 16 characters")
	}
	if p.i == len(p.s) {
		return c, nil
	}
	switch p.s[p.i] {
	case '?':
		p.i++
		c.Kind = KindRead
	case '=':
		p.i++
		if p.i < len(p.s) && p.s[p.i] == '?' {
			p.i++
			c.Kind = KindTest
			return c, nil
		}
		args, err := p.arguments(c.Name)
		if err != nil {
			return Command{}, err
		}
		c.Kind, c.Arg = KindSet, args
	}
	return c, nil
}

// arguments reads the arguments of an extended set command, up to a ';'
// outside quotes or the end of the line.
func (p *parser) arguments(name string) (string, error) {
	start := p.i
	quoted := false
	for ; p.i < len(p.s); p.i++ {
		c := p.s[p.i]
		switch {
		case c == '"':
			quoted = !quoted
		case quoted:
			if err := p.escape(); err != nil {
				return "", err
			}
		case c == ';':
			return p.s[start:p.i], nil
		case isDigit(c), strings.IndexByte(",.-/:_*#()", c) >= 0:
		default:
			return "", p.fail("unquoted byte in the arguments of " + name + " that could start a command")
		}
	}
	if quoted {
		return "", p.fail("quote left open in the arguments of " + name)
	}
	return p.s[start:], nil
}

// escape checks a backslash inside quotes, at p.i: V.250 §5.4.2.2 allows
// it only before two hexadecimal digits (\22 stands for a quote). A module
// that took \" for a quote inside the string would see the rest of the line
// inside out, quoted where the bridge reads commands and the other way
// round: any other backslash is refused.
func (p *parser) escape() error {
	if p.s[p.i] != '\\' {
		return nil
	}
	if p.i+2 >= len(p.s) || !isHex(p.s[p.i+1]) || !isHex(p.s[p.i+2]) {
		return p.fail("backslash in a string not followed by two hexadecimal digits")
	}
	p.i += 2
	return nil
}

// digits reads a run of decimal digits.
func (p *parser) digits() string {
	start := p.i
	for p.i < len(p.s) && isDigit(p.s[p.i]) {
		p.i++
	}
	return p.s[start:p.i]
}

func isUpper(c byte) bool { return 'A' <= c && c <= 'Z' }

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isHex(c byte) bool { return isDigit(c) || 'A' <= c && c <= 'F' || 'a' <= c && c <= 'f' }
