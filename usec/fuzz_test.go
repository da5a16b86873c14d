package usec

import (
	"strings"
	"testing"

	c2c "github.com/c2cbridge/c2cbridge/crypto"
)

// FuzzParsePairingAnswer checks, for any line, that ParsePairingAnswer
// does not panic, that an error comes alone and quotes no run of hex
// digits, and that what it accepts is in the line and parses back the same.
func FuzzParsePairingAnswer(f *testing.F) {
	for _, tc := range pairingAnswerCases {
		f.Add(tc.line)
	}
	f.Fuzz(func(t *testing.T, line string) {
		s, tag, err := ParsePairingAnswer(line, &testTE)
		if !checkFuzzResult(t, line, err, s, s != nil || tag != nil) {
			return
		}
		if s.Version() == c2c.V1 {
			if !tag.IsZero() {
				t.Fatal("a V1 pairing with a tag")
			}
			return
		}
		checkInLine(t, line, &s.HMACKey)
		checkInLine(t, line, tag)
		again := `+USECC2C: 0,0,"` + s.Key.Hex() + `","` + s.HMACKey.Hex() + `","` + tag.Hex() + `"`
		s2, tag2, err := ParsePairingAnswer(again, &testTE)
		if err != nil || *s2 != *s || *tag2 != *tag {
			t.Fatalf("the answer built from the result parses as %v, %v", s2, err)
		}
	})
}

// FuzzParseRekeyAnswer is FuzzParsePairingAnswer for ParseRekeyAnswer.
func FuzzParseRekeyAnswer(f *testing.F) {
	for _, tc := range rekeyAnswerCases {
		f.Add(tc.line)
	}
	f.Fuzz(func(t *testing.T, line string) {
		s, err := ParseRekeyAnswer(line, &testTE)
		if !checkFuzzResult(t, line, err, s, s != nil) {
			return
		}
		if s.Version() == c2c.V2 {
			checkInLine(t, line, &s.HMACKey)
		}
		again := `+USECC2C: 3,0,"` + s.Key.Hex() + `","` + s.HMACKey.Hex() + `"`
		s2, err := ParseRekeyAnswer(again, &testTE)
		if err != nil || *s2 != *s {
			t.Fatalf("the answer built from the result parses as %v, %v", s2, err)
		}
	})
}

// FuzzClassify checks that Classify does not panic, and calls only OK a
// success.
func FuzzClassify(f *testing.F) {
	for _, s := range []string{"OK", "ERROR", "NOT_ALLOWED", "+CME ERROR: SEC busy", "+CME ERROR: 3", "+CMS ERROR: 3", "+CME ERROR:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		r := Classify(line)
		if (r == ResultOK) != (line == "OK") {
			t.Fatalf("Classify(%q) = %v", line, r)
		}
		if r != ResultError && !IsFinal(line) {
			t.Fatalf("Classify(%q) = %v for a line that is not final", line, r)
		}
	})
}

// checkFuzzResult checks what a parser returned for line and reports
// whether it accepted it. An error must come alone (results is false) and
// quote no run of hex digits; accepted secrets must keep the te_secret and
// hold a key that is in line.
func checkFuzzResult(t *testing.T, line string, err error, s *c2c.Secrets, results bool) bool {
	t.Helper()
	if err != nil {
		if results {
			t.Fatal("results returned with an error")
		}
		if run := longestHexRun(err.Error()); run >= 8 {
			t.Fatalf("error %q quotes %d hex digits", err, run)
		}
		return false
	}
	if s.TESecret != testTE {
		t.Fatal("the te_secret changed")
	}
	checkInLine(t, line, &s.Key)
	return true
}

// checkInLine fails unless k's hex is in line (in any case).
func checkInLine(t *testing.T, line string, k *c2c.Secret) {
	t.Helper()
	if !strings.Contains(strings.ToLower(line), k.Hex()) {
		t.Fatalf("a value that is not in %q", line)
	}
}
