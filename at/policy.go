package at

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// The application is not trusted: the bridge forwards a command line only
// when CheckLine allows it, and the module runs exactly that edited line.
// This file is the whole policy: which commands are refused, which are
// tracked (and how), which may start data mode or a prompt.

// SecurityCommand is the C2C security command. Only the bridge sends it: a
// line that holds its name anywhere, in any case, once spaces are dropped, is
// refused.
const SecurityCommand = "+USECC2C"

// Prompt input terminators of the text prompt ("> " after +CMGS, +CMGW,
// +CMGC): 3GPP TS 27.005 §3.5.1.
const (
	// PromptSend ends the text and sends it: Ctrl-Z.
	PromptSend byte = 0x1a
	// PromptCancel ends the text and drops it: ESC.
	PromptCancel byte = 0x1b
)

// Prompt markers, as the module writes them.
const (
	// TextPromptMarker asks for text ended by PromptSend or PromptCancel.
	TextPromptMarker = "> "
	// SocketPromptMarker asks for the announced number of bytes of socket
	// data (+USOWR, +USOST binary syntax).
	SocketPromptMarker = "@"
	// StreamPromptMarker asks for the announced number of bytes of a file
	// or certificate (+UDWNFILE, +UDWNBLOCK, +USECMNG import). u-blox
	// documents it as '>'; whether a space follows is not documented, so a
	// caller should accept ">" with or without one.
	StreamPromptMarker = ">"
)

// PromptKind says how the input after a prompt ends.
type PromptKind uint8

// The prompt kinds.
const (
	// NoPrompt: the line cannot start a prompt.
	NoPrompt PromptKind = iota
	// TextPrompt: input ends at PromptSend or PromptCancel.
	TextPrompt
	// CountPrompt: input is exactly Prompt.Count bytes, any byte values.
	CountPrompt
)

// Prompt says which prompt a line may start. The module may still answer
// without one (an error, or the base syntax with inline data): the caller
// enters prompt input only on seeing Marker.
type Prompt struct {
	Kind PromptKind
	// Marker is what the module writes to ask for input.
	Marker string
	// Count is the number of bytes of input, for a CountPrompt.
	Count int
}

// Effects is what a line does to the module state the bridge tracks, to be
// applied once the module answers the line OK, in this order: Reset first,
// then Echo and CMEE. See Changed for a line answered with an error.
type Effects struct {
	// Reset is set by ATZ or AT&F: the module went back to a stored or
	// factory profile (echo on, +CMEE 0, ...); the caller restores its own
	// view, then its own settings.
	Reset bool
	// SetEcho says the line sets echo, to Echo (ATE1 on, ATE0 or ATE off).
	SetEcho, Echo bool
	// SetCMEE says the line sets +CMEE, to CMEE (0, 1 or 2).
	SetCMEE bool
	CMEE    int
	// Uncertain is set when an echo or +CMEE change follows ATZ or AT&F on
	// the same line: V.250 lets a module ignore the commands after a reset
	// (ModemManager sends "ATZ E0 V1" and repeats E0 on its own for that
	// reason), so the module may still be in its reset state.
	Uncertain bool
}

// Changed reports whether the line holds a tracked command. When the module
// answers such a line with an error, some of it may have run all the same
// (V.250 runs the commands in order and stops at the first that fails), so
// the caller should take echo and +CMEE as unknown until it sets them again.
func (e Effects) Changed() bool { return e.Reset || e.SetEcho || e.SetCMEE }

// Decision is the verdict on one command line.
type Decision struct {
	// Line is the parsed line; its Commands are empty when the line was
	// refused before parsing.
	Line CommandLine
	// Err is nil when the line may be forwarded. Otherwise it is a
	// *RefusedError (answer ERROR locally, count it in refused_commands,
	// log it: its message quotes no argument), or ErrEmptyLine for a blank
	// line, which a module ignores (not a refusal).
	Err error
	// Effects are the tracked changes the line makes once answered OK.
	Effects Effects
	// Connect says the line may answer CONNECT and start data mode: it holds
	// D, A, O, or +CGDATA, +USODL or +UFTPC in a set or action form.
	Connect bool
	// Prompt is the prompt the line may start.
	Prompt Prompt
}

// ErrRefused is wrapped by every *RefusedError.
var ErrRefused = errors.New("command refused")

// ErrOverlong is wrapped by the refusal of a LineOverlong line.
var ErrOverlong = errors.New("command line too long")

// RefusedError says why the bridge refuses a command line. Its message
// names the command, never its arguments.
type RefusedError struct {
	// Command is the canonical name of the refused command ("+USECC2C",
	// "S3", "&W", "A/"), or "" when the line is refused as a whole.
	Command string
	// Reason says why, without quoting the line.
	Reason string
	// Err is the cause when the line could not be parsed (ErrNotAT, a
	// *SyntaxError, ErrOverlong), or nil.
	Err error
}

// Error implements error.
func (e *RefusedError) Error() string {
	switch {
	case e.Command != "" && e.Err != nil:
		return fmt.Sprintf("refused AT%s: %s: %v", e.Command, e.Reason, e.Err)
	case e.Command != "":
		return fmt.Sprintf("refused AT%s: %s", e.Command, e.Reason)
	case e.Err != nil:
		return fmt.Sprintf("refused: %s: %v", e.Reason, e.Err)
	}
	return "refused: " + e.Reason
}

// Unwrap makes errors.Is(err, ErrRefused) true, and errors.Is true for the
// cause.
func (e *RefusedError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrRefused}
	}
	return []error{ErrRefused, e.Err}
}

// rule is what the bridge does with one command name. The zero rule allows
// every form and tracks nothing.
type rule struct {
	// allowed reports whether a form may be forwarded; nil allows all.
	allowed func(Command) bool
	// reason says why the other forms are refused.
	reason string
	// track records the effect of an allowed form.
	track func(*Effects, Command)
	// connect: a set or action form (any form of a basic command) may
	// answer CONNECT.
	connect bool
	// last: the command must end its line (what follows ATA or ATO may or
	// may not run).
	last bool
	// prompt returns the prompt a set or action form may start; such a
	// command must be alone on its line. An error refuses the command.
	prompt func(Command) (Prompt, error)
}

// policy is the table of every command the bridge refuses, tracks, or
// expects a mode change from, by canonical name (S-parameters by register).
// A command not listed is forwarded as it is.
var policy = map[string]rule{
	// Result code and echo format: tracked in the forms the bridge reads.
	"E":  {allowed: number(0, 1), reason: "only ATE0 and ATE1 are tracked", track: trackEcho},
	"V":  {allowed: number(1), reason: "numeric result codes would break result parsing"},
	"Q":  {allowed: number(0), reason: "suppressed result codes would break result parsing"},
	"X":  {allowed: number(0, 1, 2, 3, 4), reason: "only ATX0 to ATX4 are known"},
	"Z":  {track: trackReset},
	"&F": {track: trackReset},
	"&W": {allowed: never, reason: "stores a profile that a reset would restore"},
	"&Y": {allowed: never, reason: "selects the profile loaded at power-on"},
	"&C": {allowed: number(1), reason: "DCD must follow the carrier (AT&C1)"},
	"&D": {allowed: number(2), reason: "DTR must end the call (AT&D2)"},
	"&K": {allowed: never, reason: "changes UART flow control"},
	`\Q`: {allowed: never, reason: "changes UART flow control"},

	// S-parameters: reads are fine.
	"S0":  {allowed: sValue(0), reason: "auto-answer would start data mode without a command the bridge forwarded"},
	"S2":  {allowed: sValue(), reason: "changes the escape character"},
	"S3":  {allowed: sValue(), reason: "changes the command line terminator"},
	"S4":  {allowed: sValue(), reason: "changes the response formatting character"},
	"S5":  {allowed: sValue(), reason: "changes the command line editing character"},
	"S12": {allowed: sValue(), reason: "changes the escape guard time"},

	// Error reporting: tracked, so the bridge's own commands read any mode.
	"+CMEE": {allowed: cmee, reason: "only AT+CMEE=0, 1 or 2 is tracked", track: trackCMEE},

	// UART framing and serial interface: reads and tests are fine.
	"+IPR":  {allowed: readOnly, reason: "changes the UART baud rate"},
	"+ICF":  {allowed: readOnly, reason: "changes the UART character framing"},
	"+IFC":  {allowed: readOnly, reason: "changes the UART flow control"},
	"+CMUX": {allowed: readOnly, reason: "starts the multiplexer protocol"},
	"+UPSV": {allowed: readOnly, reason: "changes the UART power saving"},
	"+USIO": {allowed: readOnly, reason: "changes the serial interface configuration"},

	// Refused in any form, and anywhere on a line: CheckCommandLine looks
	// for the name before parsing; this entry gives the reason.
	SecurityCommand: {allowed: never, reason: "the C2C security commands are the bridge's alone"},

	// Data mode: a CONNECT answer starts it only after one of these.
	"D":       {connect: true},
	"A":       {connect: true, last: true},
	"O":       {connect: true, last: true},
	"+CGDATA": {connect: true},
	// u-blox direct link (transparent socket and FTP): they answer CONNECT
	// too. Listing a command here is safe even if it never connects: the
	// bridge enters data mode only on a CONNECT answer.
	"+USODL": {connect: true},
	"+UFTPC": {connect: true},

	// Prompts. 3GPP TS 27.005: +CMGS, +CMGW and +CMGC prompt "> " for text
	// (or a PDU) ended by Ctrl-Z or ESC, in text and PDU mode alike. The
	// u-blox SARA-R4 AT commands manual (UBX-17003787 R09; the SARA-R5
	// manual UBX-19047455 keeps these commands): the binary syntax
	// AT+USOWR=<socket>,<length> (§18.10) and
	// AT+USOST=<socket>,<addr>,<port>,<length> (§18.11) prompt "@", then
	// take exactly <length> bytes; AT+UDWNFILE=<name>,<size>[,<tag>] (§16.2)
	// and AT+UDWNBLOCK=<name>,<offset>,<size>,<filesize>[,<tag>] (§16.7)
	// prompt '>' and take <size> bytes; +USECMNG=0,<type>,<name>,<size>
	// [,<password>] imports <size> bytes after '>' (as documented for
	// ublox-cellular-rs's PrepareSecurityDataImport). §1.1.4.1: these
	// commands must be used alone on a line.
	"+CMGS":      {prompt: textPrompt},
	"+CMGW":      {prompt: textPrompt},
	"+CMGC":      {prompt: textPrompt},
	"+USOWR":     {prompt: countPrompt(SocketPromptMarker, 1)},
	"+USOST":     {prompt: countPrompt(SocketPromptMarker, 3)},
	"+UDWNFILE":  {prompt: countPrompt(StreamPromptMarker, 1)},
	"+UDWNBLOCK": {prompt: countPrompt(StreamPromptMarker, 2)},
	"+USECMNG":   {prompt: certificateImport},
}

// maxPromptCountDigits bounds the byte count of a CountPrompt the bridge
// accepts: more digits than this could overflow or be read another way.
const maxPromptCountDigits = 9

// CheckLine decides what the bridge does with a line from a LineEditor: a
// LineOverlong or LineRepeat is refused; a LineCommand is checked by
// CheckCommandLine.
func CheckLine(l Line) Decision {
	switch l.Kind {
	case LineCommand:
		return CheckCommandLine(l.Text)
	case LineRepeat:
		return Decision{Err: &RefusedError{Command: "A/", Reason: "repeats the module's last command line, which may be the bridge's own"}}
	}
	return Decision{Err: &RefusedError{Reason: "longer than the module's command line", Err: ErrOverlong}}
}

// CheckCommandLine parses an edited command line (ParseCommandLine) and
// applies the policy to each of its commands: the line is refused if any
// command is refused, or if it holds SecurityCommand anywhere (spaces
// dropped, any case, inside quotes too). Otherwise the Decision says what the
// line may do: its tracked effects, a CONNECT, a prompt.
func CheckCommandLine(edited string) Decision {
	if strings.Contains(strings.ToUpper(strings.ReplaceAll(edited, " ", "")), SecurityCommand[1:]) {
		return Decision{Err: &RefusedError{Command: SecurityCommand, Reason: policy[SecurityCommand].reason}}
	}
	line, err := ParseCommandLine(edited)
	if errors.Is(err, ErrEmptyLine) {
		return Decision{Err: ErrEmptyLine}
	}
	if err != nil {
		return Decision{Err: &RefusedError{Reason: "cannot be checked", Err: err}}
	}
	d := Decision{Line: line}
	for i, c := range line.Commands {
		r := policy[c.Name]
		if r.allowed != nil && !r.allowed(c) {
			return refuse(line, c.Name, r.reason)
		}
		if r.last && i != len(line.Commands)-1 {
			return refuse(line, c.Name, "must end the line")
		}
		if r.track != nil {
			r.track(&d.Effects, c)
		}
		if c.Kind == KindRead || c.Kind == KindTest {
			continue
		}
		d.Connect = d.Connect || r.connect
		if r.prompt == nil {
			continue
		}
		p, err := r.prompt(c)
		if err != nil {
			return refuse(line, c.Name, err.Error())
		}
		if p.Kind != NoPrompt && len(line.Commands) != 1 {
			return refuse(line, c.Name, "may prompt for input, so must be alone on its line")
		}
		d.Prompt = p
	}
	return d
}

func refuse(line CommandLine, name, reason string) Decision {
	return Decision{Line: line, Err: &RefusedError{Command: name, Reason: reason}}
}

// never allows no form.
func never(Command) bool { return false }

// readOnly allows the read and test forms of an extended command.
func readOnly(c Command) bool { return c.Kind == KindRead || c.Kind == KindTest }

// number allows a basic command with one of vals as its number (none is 0).
func number(vals ...int) func(Command) bool {
	return func(c Command) bool {
		n, err := strconv.Atoi(c.Arg)
		if c.Arg == "" {
			n, err = 0, nil
		}
		return err == nil && slices.Contains(vals, n)
	}
}

// sValue allows reading an S-parameter, and writing one of vals to it.
func sValue(vals ...int) func(Command) bool {
	return func(c Command) bool {
		if c.Kind == KindSRead {
			return true
		}
		n, err := strconv.Atoi(c.Arg)
		return err == nil && slices.Contains(vals, n)
	}
}

// cmee allows AT+CMEE=0, 1 or 2 and the read and test forms.
func cmee(c Command) bool {
	return readOnly(c) || (c.Kind == KindSet && len(c.Arg) == 1 && '0' <= c.Arg[0] && c.Arg[0] <= '2')
}

// trackEcho records ATE0 or ATE1 (ATE is ATE0).
func trackEcho(e *Effects, c Command) {
	e.SetEcho, e.Echo = true, c.Arg == "1"
	e.Uncertain = e.Uncertain || e.Reset
}

// trackCMEE records AT+CMEE=<n>.
func trackCMEE(e *Effects, c Command) {
	if c.Kind == KindSet {
		e.SetCMEE, e.CMEE = true, int(c.Arg[0]-'0')
		e.Uncertain = e.Uncertain || e.Reset
	}
}

// trackReset records ATZ or AT&F: it undoes what came before it on the line
// (but a module may have ignored it after an earlier reset: Uncertain stays).
func trackReset(e *Effects, _ Command) {
	*e = Effects{Reset: true, Uncertain: e.Uncertain}
}

func textPrompt(Command) (Prompt, error) {
	return Prompt{Kind: TextPrompt, Marker: TextPromptMarker}, nil
}

// countPrompt returns a prompt function for a command whose byte count is
// its argument at index arg. A command without it is refused: the bridge
// could not tell where the input ends. Inline data after the count (the
// base syntax) makes no prompt, but the Decision still allows one.
func countPrompt(marker string, arg int) func(Command) (Prompt, error) {
	return func(c Command) (Prompt, error) {
		args := c.Args()
		if len(args) <= arg {
			return Prompt{}, errors.New("no byte count")
		}
		n, err := promptCount(args[arg])
		if err != nil {
			return Prompt{}, err
		}
		return Prompt{Kind: CountPrompt, Marker: marker, Count: n}, nil
	}
}

// certificateImport is +USECMNG: only operation 0 (import from the serial
// interface, AT+USECMNG=0,<type>,<name>,<size>[,<password>]) prompts.
func certificateImport(c Command) (Prompt, error) {
	args := c.Args()
	if len(args) == 0 {
		return Prompt{}, errors.New("no operation")
	}
	op, err := promptCount(args[0])
	if err != nil {
		return Prompt{}, errors.New("operation not a plain decimal number")
	}
	if op != 0 {
		return Prompt{}, nil
	}
	return countPrompt(StreamPromptMarker, 3)(c)
}

// promptCount reads a byte count: plain decimal digits, not zero-padded,
// no more than maxPromptCountDigits of them.
func promptCount(s string) (int, error) {
	if s == "" || len(s) > maxPromptCountDigits || (len(s) > 1 && s[0] == '0') {
		return 0, errors.New("byte count not a plain decimal number")
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return 0, errors.New("byte count not a plain decimal number")
		}
	}
	return strconv.Atoi(s)
}
