package bridge

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/c2cbridge/c2cbridge/at"
)

// The randomized test of the untrusted application: random byte streams
// against modemsim in V.250 mode, with the assertions of checkAfterAttack
// after every round, and during a call the loopback of every byte of call
// data. Its budget and seed come from the environment, so a long run and
// the replay of a failure need no code change.
const (
	// randomSecondsEnv sets the test's budget in whole seconds.
	randomSecondsEnv = "C2C_RANDOM_SECONDS"
	// randomSeedEnv sets the seed of the first round (the seed a failing
	// round prints); later rounds take the next seeds.
	randomSeedEnv = "C2C_RANDOM_SEED"
	// randomBudget is the default budget: rounds start while the longest
	// round so far fits in what is left of it.
	randomBudget = 25 * time.Second
	// randomShortBudget is the budget in -short mode.
	randomShortBudget = 3 * time.Second
	// agreeWait bounds the wait for the bridge and the module to agree on
	// the mode once the application went quiet: a hang guard.
	agreeWait = 10 * time.Second
)

// TestRandomApplication runs rounds of random application byte streams
// against a module that edits its command lines as V.250 says: AT lines
// and fragments (+USECC2C in many spellings, control bytes, BS and DEL,
// S-register writes, A/, ATV0, fake results, prompts, overlong lines)
// written in random pieces with pauses around the guard time, and calls
// (dial, call data, escapes in pieces, hang-up, resume). Each round ends
// with checkAfterAttack; during a call every byte of call data must come
// back unchanged (modemsim loops it back), but for +USECC2C lines, which
// the bridge drops by design. A failing round logs its seed and what the
// application wrote.
func TestRandomApplication(t *testing.T) {
	budget := randomBudget
	if testing.Short() {
		budget = randomShortBudget
	}
	if s := os.Getenv(randomSecondsEnv); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			t.Fatalf("%s=%q: want a positive number of seconds", randomSecondsEnv, s)
		}
		budget = time.Duration(n) * time.Second
	}
	seed := rand.Uint64()
	if s := os.Getenv(randomSeedEnv); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("%s=%q: %v", randomSeedEnv, s, err)
		}
	}
	t.Logf("seed %d (%s), budget %v (%s)", seed, randomSeedEnv, budget, randomSecondsEnv)
	// A round starts only if the longest so far still fits in the budget.
	end := time.Now().Add(budget)
	var longest time.Duration
	for round := uint64(0); round == 0 || time.Until(end) > longest; round++ {
		s := seed + round
		start := time.Now()
		if !t.Run(fmt.Sprintf("round %d", round), func(t *testing.T) { randomRound(t, s) }) {
			t.Fatalf("round %d failed; replay it with %s=%d", round, randomSeedEnv, s)
		}
		longest = max(longest, time.Since(start))
	}
}

// randomRound runs one round: a fresh bridge and module, random actions,
// then the checks of every attack.
func randomRound(t *testing.T, seed uint64) {
	r, saves := attackRig(t)
	d := &randomDriver{t: t, r: r, saves: saves, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	d.secrets = secretTexts(r)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("round seed %d (%s=%d replays it); what the application did:\n%s",
				seed, randomSeedEnv, seed, strings.Join(d.transcript, "\n"))
		}
	})
	for range 3 + d.rng.IntN(8) {
		if d.rng.IntN(3) == 0 {
			d.callEpisode()
		} else {
			d.writePieces(d.commandSegment(), false)
			d.syncCommand()
		}
	}
	d.syncCommand()
	checkAfterAttack(t, r, saves)
}

// secretTexts returns what must never reach the application: the text of
// the security dialogue and the module's secrets in hex, upper case.
func secretTexts(r *rig) []string {
	s := r.mod.Secrets()
	out := []string{"USECC2C: ", strings.ToUpper(s.Key.Hex()), strings.ToUpper(s.TESecret.Hex())}
	if h := strings.ToUpper(s.HMACKey.Hex()); h != "" {
		out = append(out, h)
	}
	return out
}

// randomDriver is the random application of one round, with what it
// knows of the call: whether call data flows, and the call data still to
// come back.
type randomDriver struct {
	t          *testing.T
	r          *rig
	saves      *atomic.Int64
	rng        *rand.Rand
	secrets    []string
	transcript []string
	syncs      int // sync markers used, for unique ones
	scanned    int // bytes of the application's input checked for secrets

	data     bool   // the module and the bridge are in data mode
	ppp      bool   // this call carries PPP flags (the bridge has seen one)
	pos      int    // where the call data not yet checked starts in the application's input
	expected []byte // call data sent since pos, to come back unchanged
}

// note adds a line to the round's transcript.
func (d *randomDriver) note(format string, args ...any) {
	d.transcript = append(d.transcript, fmt.Sprintf(format, args...))
}

// write waits pause, then writes p as one application write.
func (d *randomDriver) write(pause time.Duration, p []byte) {
	d.t.Helper()
	if pause > 0 {
		time.Sleep(pause)
	}
	d.note("  sleep %-5v write %q", pause, clipBytes(p))
	d.r.app.SetWriteDeadline(time.Now().Add(hang))
	if _, err := d.r.app.Write(p); err != nil {
		d.t.Fatalf("the bridge took no application input for %v (%v): writing %q", hang, err, clipBytes(p))
	}
}

// clipBytes shortens long writes in the transcript.
func clipBytes(p []byte) string {
	const limit = 160
	if len(p) <= limit {
		return string(p)
	}
	return fmt.Sprintf("%s...(%d bytes)", p[:limit], len(p))
}

// pause returns a random pause before a write: mostly none, else one
// around the guard time.
func (d *randomDriver) pause() time.Duration {
	switch d.rng.IntN(10) {
	case 0:
		return attackGuard / 2
	case 1:
		return attackGuard
	case 2:
		return 2 * attackGuard
	}
	return 0
}

// writePieces writes p in random pieces: whole, byte by byte, or cut at
// random offsets, with random pauses. In call data no piece starts with
// '+' (see randomCallData).
func (d *randomDriver) writePieces(p []byte, data bool) {
	d.t.Helper()
	var cuts []int
	switch d.rng.IntN(4) {
	case 0:
	case 1:
		if len(p) <= 64 {
			for i := 1; i < len(p); i++ {
				cuts = append(cuts, i)
			}
			break
		}
		fallthrough
	default:
		for range 1 + d.rng.IntN(6) {
			cuts = append(cuts, 1+d.rng.IntN(max(len(p)-1, 1)))
		}
	}
	start := 0
	for i := 1; i <= len(p); i++ {
		cut := i == len(p)
		for _, c := range cuts {
			cut = cut || c == i
		}
		if !cut || data && i < len(p) && p[i] == '+' {
			continue
		}
		pause := time.Duration(0)
		if len(cuts) < 16 {
			pause = d.pause()
		}
		d.write(pause, p[start:i])
		start = i
	}
}

// received returns what the application has read so far. The slice is
// the reader's own: it must not be written to.
func (d *randomDriver) received() []byte {
	d.r.raw.mu.Lock()
	defer d.r.raw.mu.Unlock()
	return d.r.raw.buf[:len(d.r.raw.buf):len(d.r.raw.buf)]
}

// waitReceived waits until the application's input from offset from on
// holds s, and returns where s ends.
func (d *randomDriver) waitReceived(what string, from int, s string) int {
	d.t.Helper()
	end := -1
	waitFor(d.t, what, func() bool {
		got := d.received()
		if i := bytes.Index(got[min(from, len(got)):], []byte(s)); i >= 0 {
			end = min(from, len(got)) + i + len(s)
			return true
		}
		return false
	})
	return end
}

// bridgeMode returns whether the bridge's stream tracker is in data mode.
func (d *randomDriver) bridgeMode() bool { return d.r.b.inDataMode() }

// checkNow fails the round at once if the module ran a security command
// the bridge did not send or a secret reached the application.
func (d *randomDriver) checkNow(when string) {
	d.t.Helper()
	if sec := d.r.mod.Stats().SecCommands; sec.Open != 1 || sec.Rekey+sec.Close+sec.Pair+sec.Confirm+sec.Other != 0 {
		d.t.Fatalf("%s: the module ran security commands the bridge did not send: %+v", when, sec)
	}
	if n := d.saves.Load(); n != 0 {
		d.t.Fatalf("%s: the key file was written %d times", when, n)
	}
	got := d.received()
	from := max(d.scanned-64, 0)
	window := bytes.ToUpper(got[from:])
	for _, s := range d.secrets {
		if bytes.Contains(window, []byte(s)) {
			d.t.Fatalf("%s: the application received %q", when, s)
		}
	}
	d.scanned = len(got)
}

// syncCommand ends whatever command line is typed, then waits until the
// module has answered everything before: a marker set and read back. The
// bridge and the module must both be in command mode.
func (d *randomDriver) syncCommand() {
	d.t.Helper()
	d.syncs++
	tag := fmt.Sprintf("SYNC%d", d.syncs)
	from := len(d.received())
	d.write(0, []byte("\rAT+CGDCONT=1,\"IP\",\""+tag+"\"\rAT+CGDCONT?\r"))
	d.waitReceived("the answer to the marker "+tag, from, "+CGDCONT: 1,\"IP\",\""+tag+"\"\r\n")
	if st := d.r.mod.Stats(); st.DataMode || d.bridgeMode() {
		d.t.Fatalf("after the marker %s: module in data mode %v, bridge in data mode %v", tag, st.DataMode, d.bridgeMode())
	}
	d.checkNow("after the marker " + tag)
}

// commandSegment returns random command-mode input ending with a
// terminator, that starts no call and neither reboots nor stalls the
// module (the round's model of the module depends on it): such segments
// are drawn again.
func (d *randomDriver) commandSegment() []byte {
	for {
		var p []byte
		for range 1 + d.rng.IntN(6) {
			p = append(p, d.element()...)
		}
		if len(p) == 0 || p[len(p)-1] != at.CommandTerminator {
			p = append(p, at.CommandTerminator)
		}
		if harmlessForModel(p) {
			return p
		}
	}
}

// harmlessForModel reports whether no line of p the bridge would forward
// starts a call, reboots the module or keeps it busy.
func harmlessForModel(p []byte) bool {
	var e at.LineEditor
	for len(p) > 0 {
		n, l, ok := e.Feed(p)
		p = p[n:]
		if !ok {
			continue
		}
		dec := at.CheckLine(l)
		if dec.Err != nil {
			continue
		}
		if dec.Connect {
			return false
		}
		for _, c := range dec.Line.Commands {
			switch c.Name {
			case "+CFUN", "+TSLOW":
				if c.Kind == at.KindSet || c.Kind == at.KindAction {
					return false
				}
			}
		}
	}
	return true
}

// knownLines are command lines and other text an application may type:
// harmless ones, hostile ones, and ones that change how the module talks.
var knownLines = []string{
	"AT", "ATI", "AT+CGMI", "at+cgmm", "AT+CGMR", "AT+CSQ", "AT+CSQ=?", "AT+CMEE=2", "AT+CMEE=0",
	"AT+CMEE?", "ATE0", "ATE1", "ATE", "ATV1", "ATQ0", "ATX4", "AT&C1", "AT&D2", "ATZ", "AT&F",
	"ATS3?", "ATS5?", "AT+TURC=2", "AT+TBIG=300", `AT+CGDCONT=1,"IP","internet"`, "AT+CGDCONT?",
	"AT+CFUN?", "AT;+CGMI", "AT+CMEE=2;+CGMM", "ATH", "AT E0 V1", "ATZ E0 V1", "AT+NOPE",
	// The security command, spelled as a module may read it.
	"AT+USECC2C=3", "at+usecc2c=3", "AT+UsEcC2c=1", "AT+USECC2C=2", "AT+USECC2C=0", "AT+USECC2C=4",
	"AT+USECC2C=?", "AT+USECC2C?", "AT+USEC C2C=3", "AT + USECC2C = 3", "AT+USECX\bC2C=3",
	"AT+USECX\x7fC2C=3", "AT+USEC\x01C2C=3", "AT+USEC\x00C2C=3", "AT+USE\tCC2C=3", "AT+\nUSECC2C=3",
	"AT+CGMI;+USECC2C=3", "AT+CMEE=2;+USECC2C=3;+CGMI", `AT+CGDCONT=1,"IP","+USECC2C=3"`,
	`AT"+USECC2C=3`, "AT+USECC2C=3,0", `AT+USECC2C=1,"00"`, "XAT+USECC2C=3", "AATT+USECC2C=3",
	"aT+USECC2C=3", "AT+USECC2CC\b=3", "ATE0+USECC2C=3", "AT+USECXC2C=3", "AT\\+USECC2C=3",
	// Registers and modes.
	"ATS5=88", "ATS5=88\rAT+USECXC2C=3", "ATS3=0", "ATS3=65", "ATS3=", "ATS4=0", "ATS12=1",
	"ATS2=43", "ATS0=1", "A/", "a/", "ATV0", "ATV", "ATQ1", "AT&W", "AT+IPR=9600", "AT+CMUX=0",
	"AT&K3", `AT\Q3`, "AT+UPSV=1", "AT+ICF=3", "AT+IFC=2,2",
	// Results the module's echo would show.
	"CONNECT", "CONNECT 115200", "@", "> ", "OK", "NO CARRIER", "\r\nCONNECT\r\n", "RING", "\r\nOK\r\n",
}

// element returns one random piece of command-mode input.
func (d *randomDriver) element() []byte {
	terminate := func(s string) []byte {
		switch d.rng.IntN(8) {
		case 0:
			return []byte(s) // a fragment: the next element continues the line
		case 1:
			return []byte(s + "\r\n")
		}
		return []byte(s + "\r")
	}
	switch n := d.rng.IntN(20); {
	case n < 7:
		return terminate(knownLines[d.rng.IntN(len(knownLines))])
	case n < 10:
		return terminate(d.securitySpelling())
	case n < 13:
		return terminate(d.mutate(knownLines[d.rng.IntN(len(knownLines))]))
	case n < 15:
		return d.randomBytes(1 + d.rng.IntN(40))
	case n < 16:
		return d.overlong()
	case n < 17:
		return d.promptInput()
	default:
		return terminate(knownLines[d.rng.IntN(len(knownLines))])
	}
}

// securitySpelling returns AT+USECC2C with a random operation, in random
// case, with editing and control bytes a module would drop.
func (d *randomDriver) securitySpelling() string {
	ops := []string{"=3", "=1", "=2", "=0", "=4", "=3,0", "=?", "?", ""}
	s := "AT" + d.randomCase("+USECC2C") + ops[d.rng.IntN(len(ops))]
	if d.rng.IntN(2) == 0 {
		s = "AT+CMEE=2;" + s[2:]
	}
	return d.mutate(s)
}

// randomCase flips the case of random letters of s.
func (d *randomDriver) randomCase(s string) string {
	b := []byte(s)
	for i, c := range b {
		if ('a' <= c|0x20 && c|0x20 <= 'z') && d.rng.IntN(2) == 0 {
			b[i] = c ^ 0x20
		}
	}
	return string(b)
}

// mutate inserts into s what a V.250 module's line editing removes: a
// character and a backspace (BS or DEL), control bytes, spaces.
func (d *randomDriver) mutate(s string) string {
	b := []byte(s)
	for range d.rng.IntN(4) {
		i := d.rng.IntN(len(b) + 1)
		var ins []byte
		switch d.rng.IntN(5) {
		case 0:
			ins = []byte{'X', at.EditBackspace}
		case 1:
			ins = []byte{'Q', at.EditDelete}
		case 2:
			ins = []byte{byte(1 + d.rng.IntN(0x1f))}
			if ins[0] == at.CommandTerminator || ins[0] == at.EditBackspace {
				ins[0] = 0x01
			}
		case 3:
			ins = []byte{' '}
		default:
			ins = []byte{'\n'}
		}
		b = append(b[:i], append(ins, b[i:]...)...)
	}
	return string(b)
}

// randomBytes returns n bytes of an alphabet rich in what the line editor
// treats specially.
func (d *randomDriver) randomBytes(n int) []byte {
	const alphabet = "AaTt+/=;?\"0123456789USECusec \r\n\b\x7f\x00\x01\x1a\x1b\x80\xff@>"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[d.rng.IntN(len(alphabet))]
	}
	return b
}

// overlong returns a line around the module's command line limit, some
// holding +USECC2C past it.
func (d *randomDriver) overlong() []byte {
	switch d.rng.IntN(3) {
	case 0:
		return []byte("AT" + strings.Repeat("+CGMI;", 150+d.rng.IntN(60)) + "+USECC2C=3\r")
	case 1:
		n := at.MaxCommandLine - 8 + d.rng.IntN(16)
		return []byte("AT+CGMI;" + strings.Repeat(" ", n) + "+USECC2C=3\r")
	}
	return []byte("AT+CGDCONT=1,\"IP\",\"" + strings.Repeat("x", at.MaxCommandLine-30+d.rng.IntN(60)) + "\"\r")
}

// promptInput returns a command that may prompt, and input for the prompt
// (modemsim answers these commands ERROR: the input is command lines then).
func (d *randomDriver) promptInput() []byte {
	switch d.rng.IntN(3) {
	case 0:
		return []byte("AT+CMGS=\"+123\"\rhello AT+USECC2C=3\x1a\r")
	case 1:
		return []byte("AT+USOWR=0,5\rAT+USECC2C=3\r")
	}
	return []byte("AT+UDWNFILE=\"f\",3\rabc\r")
}

// callEpisode dials, then makes random call actions until the call ends.
func (d *randomDriver) callEpisode() {
	d.t.Helper()
	d.note("call")
	dials := []string{"ATD*99#\r", "atd*99#\r", "ATDT*99***1#\r", "ATX\bD*99#\r", "AT+CGDCONT=1,\"IP\",\"x\";D*99#\r", "A\x01TD*99#\r"}
	d.connect(dials[d.rng.IntN(len(dials))])
	for range 2 + d.rng.IntN(12) {
		if d.data {
			switch n := d.rng.IntN(10); {
			case n < 5:
				d.callData()
			case n < 6:
				d.securityCallData()
			case n < 7:
				d.checkLoopback()
			default:
				d.escapeAttempt()
			}
			continue
		}
		// Command mode during a call (or after it ended).
		switch d.rng.IntN(5) {
		case 0:
			d.writePieces(d.commandSegment(), false)
			d.syncCommand()
		case 1:
			if d.r.mod.Stats().CallUp {
				d.connect("ATO\r")
			}
		case 2:
			d.connect("ATD*99#\r")
		default:
			d.hangUp()
			return
		}
	}
	d.hangUp()
}

// connect syncs, then writes line (a dial or ATO) and waits for data mode.
func (d *randomDriver) connect(line string) {
	d.t.Helper()
	d.syncCommand()
	connects := d.r.mod.Stats().Connects
	d.writePieces([]byte(line), false)
	waitFor(d.t, "the call to start after "+strconv.Quote(line), func() bool {
		st := d.r.mod.Stats()
		return st.Connects > connects && st.DataMode && d.bridgeMode()
	})
	d.data = true
	d.ppp = d.rng.IntN(2) == 0
	d.pos, d.expected = len(d.received()), nil
	d.resync()
}

// resync starts checking call data afresh: a unique token is sent as call
// data, and the check resumes after its loopback. What came back before
// it is not checked (it may be the loopback of bytes that were or were
// not an escape, or a +USECC2C line dropped by design).
func (d *randomDriver) resync() {
	d.t.Helper()
	d.syncs++
	token := fmt.Sprintf("#SYNC%d#", d.syncs)
	p := []byte("\r\n" + token + "\r\n")
	if d.ppp {
		p = append([]byte{pppFlag}, p...) // the bridge sees a PPP call
	}
	d.write(0, p)
	d.pos = d.waitReceived("the loopback of "+token, d.pos, token)
	d.expected = append(d.expected[:0], "\r\n"...)
}

// randomCallData returns call data that no reading of its timing makes an
// escape: no run of three '+', no '+' first (writePieces starts no piece
// with one). It holds text that looks like results, and in a PPP call
// NO CARRIER inside a frame.
func (d *randomDriver) randomCallData() []byte {
	var p []byte
	for range 1 + d.rng.IntN(5) {
		switch d.rng.IntN(8) {
		case 0, 1, 2:
			b := make([]byte, 1+d.rng.IntN(2000))
			for i := range b {
				b[i] = byte(d.rng.UintN(256))
			}
			p = append(p, b...)
		case 3:
			texts := []string{"\r\nOK\r\n", "\r\nCONNECT\r\n", "AT+CGMI\r", "ATH\r", "++", "a++b+", "A/", "\r\nRING\r\n", "@", "> ", "\x1a", "\r\nERROR\r\n", "+U", "+usec"}
			p = append(p, texts[d.rng.IntN(len(texts))]...)
		case 4:
			p = append(p, d.randomBytes(1+d.rng.IntN(40))...)
		case 5:
			if d.ppp {
				// Inside a frame: network data cannot put a flag right before it.
				p = append(p, "\x7e\xff\x03\r\nNO CARRIER\r\n\x7e"...)
			}
		default:
			p = append(p, "\x7e\xff\x03\x00\x21payload\x7e"...)
		}
	}
	if len(p) == 0 || p[0] == '+' {
		p = append([]byte{'-'}, p...)
	}
	for i := 2; i < len(p); i++ {
		if p[i] == '+' && p[i-1] == '+' && p[i-2] == '+' {
			p[i] = '-'
		}
	}
	// With the end of the call data before it, since it may continue it.
	tail := d.expected[max(len(d.expected)-16, 0):]
	text := bytes.ToUpper(append(bytes.Clone(tail), p...))
	for _, bad := range []string{"#SYNC", "USECC2C", "NO CARRIER"} {
		if bad == "NO CARRIER" && d.ppp {
			continue
		}
		if bytes.Contains(text, []byte(bad)) {
			return []byte("x") // random bytes that happen to spell it: drop them
		}
	}
	return p
}

// callData writes random call data, which must come back unchanged.
func (d *randomDriver) callData() {
	d.t.Helper()
	p := d.randomCallData()
	d.writePieces(p, true)
	d.expected = append(d.expected, p...)
	if len(d.expected) > 16<<10 {
		d.checkLoopback()
	}
}

// checkLoopback waits for the call data sent since the last check and
// checks it came back unchanged (failing at the first byte that differs).
func (d *randomDriver) checkLoopback() {
	d.t.Helper()
	want := d.expected
	deadline := time.Now().Add(hang)
	for {
		got := d.received()[d.pos:]
		got = got[:min(len(got), len(want))]
		if !bytes.Equal(got, want[:len(got)]) {
			i := 0
			for got[i] == want[i] {
				i++
			}
			d.t.Fatalf("call data came back changed from byte %d of %d on: got %q, want %q",
				i, len(want), got[i:min(i+40, len(got))], want[i:min(i+40, len(want))])
		}
		if len(got) == len(want) {
			break
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("%d of %d bytes of call data came back within %v; missing %q",
				len(got), len(want), hang, clipBytes(want[len(got):]))
		}
		time.Sleep(5 * time.Millisecond)
	}
	d.pos += len(want)
	d.expected = d.expected[:0]
}

// securityCallData writes a +USECC2C line as call data: the module loops
// it back and the bridge drops it (deliver.go), so the check resumes
// after it.
func (d *randomDriver) securityCallData() {
	d.t.Helper()
	d.checkLoopback()
	lines := []string{"AT+USECC2C=3\r", "at+usecc2c=3", "x+USECC2C=1\r\n", "AT+USECC2C=3\rAT+USECC2C=1\r"}
	d.writePieces([]byte(lines[d.rng.IntN(len(lines))]), true)
	d.resync()
}

// escapeAttempt writes groups of '+' with random pauses (an escape or
// not, as the module's guard time decides), sometimes a command line
// right after, and then waits: the bridge and the module must agree on
// the mode, whatever the timing made of it.
func (d *randomDriver) escapeAttempt() {
	d.t.Helper()
	d.checkLoopback() // the line is quiet: nothing of the call in flight
	escapes := d.r.mod.Stats().Escapes
	pauses := []time.Duration{0, attackGuard / 2, attackGuard, 2 * attackGuard, 2 * attackGuard}
	for i := range 1 + d.rng.IntN(3) {
		pause := pauses[d.rng.IntN(len(pauses))]
		if i == 0 {
			pause = max(pause, attackGuard/2)
		}
		d.write(pause, bytes.Repeat([]byte{'+'}, 1+d.rng.IntN(3)))
	}
	if d.rng.IntN(2) == 0 {
		// Right after: held by the bridge until the module's OK (or the
		// end of its guard), then checked as a command line or sent as data.
		after := []string{"ATH\r", "AT+USECC2C=3\r", "AT+CGMI\r", "ATO\r", "AT+USECX\bC2C=3\r", "A/", "\r", "data"}
		d.write(0, []byte(after[d.rng.IntN(len(after))]))
	}
	d.agree("the escape attempt")
	escaped := d.r.mod.Stats().Escapes > escapes
	d.note("  (module escaped: %v; data mode now: %v)", escaped, d.data)
	if d.data {
		d.resync()
		return
	}
	d.write(0, []byte("\r")) // ends a line of '+' typed after the escape
	d.syncCommand()
}

// agree waits until the bridge holds no application input (it waits for
// no escape's OK), the module has had a guard time to end an escape, and
// the two agree on the mode, twice in a row.
func (d *randomDriver) agree(after string) {
	d.t.Helper()
	deadline := time.Now().Add(agreeWait)
	for {
		time.Sleep(2 * attackGuard)
		st, held, data := d.r.mod.Stats(), d.r.b.holdsInput(), d.bridgeMode()
		if !held && data == st.DataMode {
			time.Sleep(attackGuard / 2)
			if st2 := d.r.mod.Stats(); st2.DataMode == st.DataMode && st2.Escapes == st.Escapes && d.bridgeMode() == data && !d.r.b.holdsInput() {
				d.data = data
				return
			}
			continue
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("%v after %s: the module is in data mode %v (escapes %d), the bridge in data mode %v, holding application input %v",
				agreeWait, after, st.DataMode, st.Escapes, data, held)
		}
	}
}

// hangUp ends the call: the escape until the module takes it, then ATH.
func (d *randomDriver) hangUp() {
	d.t.Helper()
	for try := 0; d.data; try++ {
		if try == 5 {
			d.t.Fatalf("five escapes with guard times did not end data mode")
		}
		d.checkLoopback()
		d.write(2*attackGuard, []byte("+++"))
		d.agree("the escape")
		if d.data {
			d.resync()
		}
	}
	d.write(0, []byte("\rATH\r"))
	d.syncCommand()
	if d.r.mod.Stats().CallUp {
		d.t.Fatalf("ATH did not end the call")
	}
}
