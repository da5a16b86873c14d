package usec

import (
	"errors"
	"strings"
	"testing"

	c2c "github.com/c2cbridge/c2cbridge/crypto"
)

// Known secrets of the tests: te_secret, key, hmac_key and a confirmation
// tag, each a recognisable byte pattern.
var (
	testTE   = c2c.Secret{0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f}
	testKey  = c2c.Secret{0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f}
	testHMAC = c2c.Secret{0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0xaf}
	testTag  = c2c.Secret{0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x3b, 0x3c, 0x3d, 0x3e, 0xcf}
)

// up returns k's hex in upper case, as a module writes it.
func up(k *c2c.Secret) string { return strings.ToUpper(k.Hex()) }

func TestCommands(t *testing.T) {
	const sealed = "00ff" // stands for the 128 hex digits of a sealed tag
	tests := []struct {
		name string
		cmd  []byte
		want string
		op   Op
	}{
		{"pair", PairCommand(&testTE), `AT+USECC2C=0,"000102030405060708090a0b0c0d0e0f"`, OpPair},
		{"open", OpenCommand(&testTE), `AT+USECC2C=1,"000102030405060708090a0b0c0d0e0f"`, OpOpen},
		{"close", CloseCommand(), `AT+USECC2C=2`, OpClose},
		{"rekey", RekeyCommand(), `AT+USECC2C=3`, OpRekey},
		{"confirm", ConfirmCommand(&testTE, sealed), `AT+USECC2C=4,"000102030405060708090a0b0c0d0e0f","00ff"`, OpConfirm},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(tc.cmd); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			if !IsCommand(string(tc.cmd)) {
				t.Errorf("IsCommand(%q) is false", tc.cmd)
			}
			if !strings.HasPrefix(string(tc.cmd), CommandPrefix+string(rune('0'+tc.op))) {
				t.Errorf("%q does not start with op %d", tc.cmd, tc.op)
			}
			// The CR goes into the spare byte, and Wipe clears it all.
			line := append(tc.cmd, '\r')
			if &line[0] != &tc.cmd[0] {
				t.Error("appending the CR copied the command")
			}
			Wipe(tc.cmd)
			for i, c := range line {
				if c != 0 {
					t.Fatalf("byte %d of the wiped line is %q", i, c)
				}
			}
		})
	}
}

func TestOpString(t *testing.T) {
	for op, want := range map[Op]string{OpPair: "pairing", OpOpen: "open", OpClose: "close", OpRekey: "rekey",
		OpConfirm: "pairing confirmation", 7: "operation 7"} {
		if got := op.String(); got != want {
			t.Errorf("Op(%d).String() = %q, want %q", int(op), got, want)
		}
	}
}

func TestLines(t *testing.T) {
	tests := []struct {
		line                     string
		answer, command, isFinal bool
	}{
		{`+USECC2C: 0,0,"00"`, true, false, false},
		{`+usecc2c:3,0`, true, false, false},
		{`+USECC2C: (0-4)`, true, false, false},
		{`+USECC2C`, false, false, false},
		{`AT+USECC2C=1,"00"`, false, true, false},
		{`at+usecc2c=2`, false, true, false},
		{` AT+USECC2C=3`, false, true, false},
		{`AT+USECC2C?`, false, false, false},
		{`OK`, false, false, true},
		{`ERROR`, false, false, true},
		{`+CME ERROR: SEC busy`, false, false, true},
		{`NOT_ALLOWED`, false, false, true},
		{`CONNECT`, false, false, false},
		{`RDY`, false, false, false},
	}
	for _, tc := range tests {
		if got := IsAnswer(tc.line); got != tc.answer {
			t.Errorf("IsAnswer(%q) = %v", tc.line, got)
		}
		if got := IsCommand(tc.line); got != tc.command {
			t.Errorf("IsCommand(%q) = %v", tc.line, got)
		}
		if got := IsFinal(tc.line); got != tc.isFinal {
			t.Errorf("IsFinal(%q) = %v", tc.line, got)
		}
	}
}

func TestFindAnswer(t *testing.T) {
	lines := []string{"RDY", `+USECC2C: 1,0`, `+usecc2c: 3,0,"x"`, `+USECC2C: 0,0,"y"`, `+USECC2C: 3,1`}
	tests := []struct {
		op   Op
		want string
	}{
		{OpPair, `+USECC2C: 0,0,"y"`},
		{OpOpen, `+USECC2C: 1,0`},
		{OpRekey, `+usecc2c: 3,0,"x"`},
		{OpConfirm, ""},
	}
	for _, tc := range tests {
		got, ok := FindAnswer(tc.op, lines)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("FindAnswer(%v) = %q, %v; want %q", tc.op, got, ok, tc.want)
		}
	}
}

// pairingAnswerCases are the pairing answers of TestParsePairingAnswer, and
// seeds of FuzzParsePairingAnswer.
var pairingAnswerCases = []struct {
	name    string
	line    string
	version c2c.Version // 0: an error is expected
	err     error
}{
	{"V1", `+USECC2C: 0,0,"` + up(&testKey) + `"`, c2c.V1, nil},
	{"V2", `+USECC2C: 0,0,"` + up(&testKey) + `","` + up(&testHMAC) + `","` + up(&testTag) + `"`, c2c.V2, nil},
	{"V2, lower case, spaces", `+usecc2c:0, 0, "` + testKey.Hex() + `", "` + testHMAC.Hex() + `", "` + testTag.Hex() + `"`, c2c.V2, nil},
	{"zero hmac_key is V1", `+USECC2C: 0,0,"` + up(&testKey) + `","` + strings.Repeat("0", 32) + `","` + up(&testTag) + `"`, c2c.V1, nil},
	{"no answer line", "", 0, ErrBadAnswer},
	{"another line", "OK", 0, ErrBadAnswer},
	{"another op", `+USECC2C: 1,0,"` + up(&testKey) + `"`, 0, ErrBadAnswer},
	{"a rekey answer", `+USECC2C: 3,0,"` + up(&testKey) + `"`, 0, ErrBadAnswer},
	{"status not 0", `+USECC2C: 0,5`, 0, ErrRefused},
	{"status not 0, with a key", `+USECC2C: 0,1,"` + up(&testKey) + `"`, 0, ErrRefused},
	{"no status", `+USECC2C: 0,"` + up(&testKey) + `"`, 0, ErrBadAnswer},
	{"op alone", `+USECC2C: 0`, 0, ErrBadAnswer},
	{"no values", `+USECC2C: 0,0`, 0, ErrBadAnswer},
	{"no tag", `+USECC2C: 0,0,"` + up(&testKey) + `","` + up(&testHMAC) + `"`, 0, ErrBadAnswer},
	{"four values", `+USECC2C: 0,0,"` + up(&testKey) + `","` + up(&testHMAC) + `","` + up(&testTag) + `","` + up(&testTag) + `"`, 0, ErrBadAnswer},
	{"not quoted", `+USECC2C: 0,0,` + up(&testKey), 0, ErrBadAnswer},
	{"tag not quoted", `+USECC2C: 0,0,"` + up(&testKey) + `","` + up(&testHMAC) + `",` + up(&testTag), 0, ErrBadAnswer},
	{"short key", `+USECC2C: 0,0,"` + up(&testKey)[:30] + `"`, 0, ErrBadAnswer},
	{"long key", `+USECC2C: 0,0,"` + up(&testKey) + `00"`, 0, ErrBadAnswer},
	{"not hex", `+USECC2C: 0,0,"` + up(&testKey)[:31] + `G"`, 0, ErrBadAnswer},
	{"bad hmac_key", `+USECC2C: 0,0,"` + up(&testKey) + `","` + up(&testHMAC)[:31] + `","` + up(&testTag) + `"`, 0, ErrBadAnswer},
}

func TestParsePairingAnswer(t *testing.T) {
	for _, tc := range pairingAnswerCases {
		t.Run(tc.name, func(t *testing.T) {
			s, tag, err := ParsePairingAnswer(tc.line, &testTE)
			if tc.version == 0 {
				if !errors.Is(err, tc.err) || s != nil || tag != nil {
					t.Fatalf("got %v, %v, error %v; want nothing and %v", s, tag, err, tc.err)
				}
				checkNoSecret(t, err.Error())
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.Version() != tc.version || s.TESecret != testTE || s.Key != testKey {
				t.Errorf("got %v, want %v with the te_secret and the module's key", s, tc.version)
			}
			switch tc.version {
			case c2c.V2:
				if s.HMACKey != testHMAC || *tag != testTag {
					t.Error("wrong hmac_key or tag")
				}
			case c2c.V1:
				if !tag.IsZero() {
					t.Error("a V1 pairing kept a confirmation tag")
				}
			}
		})
	}
}

// rekeyAnswerCases are the rekey answers of TestParseRekeyAnswer, and
// seeds of FuzzParseRekeyAnswer.
var rekeyAnswerCases = []struct {
	name    string
	line    string
	version c2c.Version // 0: an error is expected
	err     error
}{
	{"V2", `+USECC2C: 3,0,"` + up(&testKey) + `","` + testHMAC.Hex() + `"`, c2c.V2, nil},
	{"V1", `+USECC2C: 3,0,"` + testKey.Hex() + `"`, c2c.V1, nil},
	{"spaces, lower-case prefix", `+usecc2c:3 , 0 , "` + testKey.Hex() + `" , "` + up(&testHMAC) + `"`, c2c.V2, nil},
	{"zero hmac_key is V1", `+USECC2C: 3,0,"` + testKey.Hex() + `","` + strings.Repeat("0", 32) + `"`, c2c.V1, nil},
	{"status not 0", `+USECC2C: 3,1,"00"`, 0, ErrRefused},
	{"a pairing answer", `+USECC2C: 0,0,"` + testKey.Hex() + `"`, 0, ErrBadAnswer},
	{"not hex", `+USECC2C: 3,0,"zz"`, 0, ErrBadAnswer},
	{"not quoted", `+USECC2C: 3,0,` + testKey.Hex(), 0, ErrBadAnswer},
	{"hmac_key not quoted", `+USECC2C: 3,0,"` + testKey.Hex() + `",` + testHMAC.Hex(), 0, ErrBadAnswer},
	{"three values", `+USECC2C: 3,0,"` + testKey.Hex() + `","` + testHMAC.Hex() + `","` + testTag.Hex() + `"`, 0, ErrBadAnswer},
	{"no values", `+USECC2C: 3,0`, 0, ErrBadAnswer},
	{"no status", `+USECC2C: 3`, 0, ErrBadAnswer},
	{"status not a number", `+USECC2C: 3,"` + testKey.Hex() + `"`, 0, ErrBadAnswer},
	{"not an answer", `OK`, 0, ErrBadAnswer},
	{"empty", ``, 0, ErrBadAnswer},
}

func TestParseRekeyAnswer(t *testing.T) {
	for _, tc := range rekeyAnswerCases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ParseRekeyAnswer(tc.line, &testTE)
			if tc.version == 0 {
				if !errors.Is(err, tc.err) || s != nil {
					t.Fatalf("got %v, error %v; want nothing and %v", s, err, tc.err)
				}
				checkNoSecret(t, err.Error())
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.Version() != tc.version || s.TESecret != testTE || s.Key != testKey {
				t.Errorf("got %v, want %v with the te_secret unchanged and the new key", s, tc.version)
			}
			if tc.version == c2c.V2 && s.HMACKey != testHMAC {
				t.Error("wrong hmac_key")
			}
		})
	}
}

// TestParseErrorMessages checks the messages that c2cbridge pair prints,
// and that no error names a value of the answer.
func TestParseErrorMessages(t *testing.T) {
	const want = `want +USECC2C: 0,0,"<key>"[,"<hmac_key>","<tag>"]`
	tests := []struct {
		line string
		msg  string
	}{
		{"", `unexpected answer from the module: no +USECC2C: 0 line (` + want + `)`},
		{`+USECC2C: 0,"` + up(&testKey) + `"`, `unexpected answer from the module: (` + want + `)`},
		{`+USECC2C: 0,5`, `rejected by the module: pairing status 5, not 0 (success)`},
		{`+USECC2C: 0,0,"` + up(&testKey) + `","` + up(&testHMAC) + `"`, `unexpected answer from the module: an hmac_key but no confirmation tag (` + want + `)`},
		{`+USECC2C: 0,0`, `unexpected answer from the module: 0 values (` + want + `)`},
		{`+USECC2C: 0,0,` + up(&testKey), `unexpected answer from the module: the key is not quoted (` + want + `)`},
		{`+USECC2C: 0,0,"` + up(&testKey)[:30] + `"`, `unexpected answer from the module: the key is not 32 hex characters: got 30 characters`},
		{`+USECC2C: 0,0,"` + up(&testKey) + `","` + up(&testHMAC) + `","` + up(&testTag)[:31] + `x"`, `unexpected answer from the module: the confirmation tag is not 32 hex characters: contains a character that is not hex`},
	}
	for _, tc := range tests {
		_, _, err := ParsePairingAnswer(tc.line, &testTE)
		if err == nil || err.Error() != tc.msg {
			t.Errorf("%q: error %v, want %s", tc.line, err, tc.msg)
		}
	}
	_, err := ParseRekeyAnswer(`+USECC2C: 3,2,"`+testKey.Hex()+`"`, &testTE)
	if want := "rejected by the module: rekey status 2, not 0 (success)"; err == nil || err.Error() != want {
		t.Errorf("rekey: error %v, want %s", err, want)
	}
}

// checkNoSecret fails if msg holds any of the test secrets in hex, or any
// run of 8 or more hex digits (a part of a value of the answer).
func checkNoSecret(t *testing.T, msg string) {
	t.Helper()
	for _, k := range []*c2c.Secret{&testTE, &testKey, &testHMAC, &testTag} {
		if strings.Contains(strings.ToLower(msg), k.Hex()) {
			t.Fatalf("the message %q holds a secret", msg)
		}
	}
	if run := longestHexRun(msg); run >= 8 {
		t.Fatalf("the message %q holds %d hex digits in a row", msg, run)
	}
}

// longestHexRun returns the length of the longest run of hex digits in s.
func longestHexRun(s string) int {
	longest, run := 0, 0
	for i := 0; i < len(s); i++ {
		c := s[i] | 0x20
		if s[i] >= '0' && s[i] <= '9' || c >= 'a' && c <= 'f' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	return longest
}

func TestClassify(t *testing.T) {
	tests := []struct {
		line string
		want Result
	}{
		{"OK", ResultOK},
		{"+CME ERROR: SEC busy", ResultBusy},
		{"+CME ERROR: sec BUSY", ResultBusy},
		{"NOT_ALLOWED", ResultNotAllowed},
		{"+CME ERROR: operation not allowed", ResultNotAllowed},
		{"+CME ERROR: Operation not allowed", ResultNotAllowed},
		{"+CME ERROR: 3", ResultNotAllowed},
		{"+CME ERROR: NOT_ALLOWED", ResultNotAllowed},
		{"ERROR", ResultError},
		{"+CME ERROR: 100", ResultError},
		{"+CME ERROR: 30", ResultError},
		{"+CMS ERROR: 500", ResultError},
		{"+CMS ERROR: busy", ResultError},
		{"not_allowed", ResultError},
		{"ok", ResultError},
		{"", ResultError},
	}
	for _, tc := range tests {
		if got := Classify(tc.line); got != tc.want {
			t.Errorf("Classify(%q) = %v, want %v", tc.line, got, tc.want)
		}
	}
}

func TestResultString(t *testing.T) {
	for r, want := range map[Result]string{ResultOK: "OK", ResultBusy: "busy", ResultNotAllowed: "not allowed", ResultError: "error"} {
		if got := r.String(); got != want {
			t.Errorf("Result(%d).String() = %q, want %q", int(r), got, want)
		}
	}
}

// TestParseRekeyAnswerVectors holds the cases of the bridge's own parser,
// which this one replaces.
func TestParseRekeyAnswerVectors(t *testing.T) {
	cur := &c2c.Secrets{TESecret: c2c.Secret{1}, Key: c2c.Secret{2}, HMACKey: c2c.Secret{3}}
	next, err := ParseRekeyAnswer(`+USECC2C: 3,0,"00112233445566778899AABBCCDDEEFF","ffeeddccbbaa99887766554433221100"`, &cur.TESecret)
	if err != nil {
		t.Fatal(err)
	}
	if next.TESecret != cur.TESecret || next.Key[1] != 0x11 || next.HMACKey[0] != 0xff || next.Version() != c2c.V2 {
		t.Fatalf("parsed %v", next)
	}
	next, err = ParseRekeyAnswer(`+USECC2C: 3,0,"00112233445566778899aabbccddeeff"`, &cur.TESecret)
	if err != nil || next.Version() != c2c.V1 {
		t.Fatalf("V1 answer: %v", err)
	}
	for _, bad := range []string{`+USECC2C: 3,1,"00"`, `+USECC2C: 0,0,"00112233445566778899aabbccddeeff"`, `+USECC2C: 3,0,"zz"`} {
		if _, err := ParseRekeyAnswer(bad, &cur.TESecret); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
