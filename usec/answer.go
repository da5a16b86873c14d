package usec

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	c2c "github.com/c2cbridge/c2cbridge/crypto"
)

// Errors of the parsers and of the security commands, wrapped with
// context; callers tell them apart with errors.Is. Their messages, and those
// of the errors wrapping them, never quote a secret.
var (
	// ErrBadAnswer is returned when an answer does not have the form the
	// protocol gives it.
	ErrBadAnswer = errors.New("unexpected answer from the module")
	// ErrRefused is returned when the module reports a failure: a status
	// other than 0 in an answer, or a failure result code (see Classify).
	ErrRefused = errors.New("rejected by the module")
	// ErrBusy is returned for "+CME ERROR: SEC busy" (ResultBusy): the
	// module is not ready for security commands yet; retry later.
	ErrBusy = errors.New("module busy")
	// ErrNotAllowed is returned for a refusal (ResultNotAllowed): the
	// module does not allow the operation in its state.
	ErrNotAllowed = errors.New("refused by the module (" + NotAllowedLine + ")")
)

// answerForm is what an answer line must look like:
// +USECC2C: <op>,0,"<value>"[,"<value>"...], with each value 32 hex digits.
type answerForm struct {
	op    Op
	want  string   // the form, as error messages describe it
	names []string // the values in order; the first one alone is allowed too
	gap   string   // error text for a count between 1 and len(names); "" if any is allowed
}

var (
	pairingForm = answerForm{
		op:    OpPair,
		want:  `want +USECC2C: 0,0,"<key>"[,"<hmac_key>","<tag>"]`,
		names: []string{"key", "hmac_key", "confirmation tag"},
		gap:   "an hmac_key but no confirmation tag",
	}
	rekeyForm = answerForm{
		op:    OpRekey,
		want:  `want +USECC2C: 3,0,"<key>"[,"<hmac_key>"]`,
		names: []string{"key", "hmac_key"},
	}
)

// ParsePairingAnswer reads the answer to a pairing,
// +USECC2C: 0,0,"<key>"[,"<hmac_key>","<conf_tag>"], and returns the new
// secrets, with te (the te_secret the pairing command carried), and the
// confirmation tag. An answer with the key alone, or an all-zero hmac_key,
// is a V1 pairing: the tag is zero then. The caller zeroes both results.
//
// A line that is not an answer to a pairing, a malformed answer or a value
// that is not 32 hex digits in quotes is an ErrBadAnswer; a status other
// than 0 is an ErrRefused. Spaces around fields and the case of the prefix
// and of the hex digits do not matter. The error never quotes a value.
func ParsePairingAnswer(line string, te *c2c.Secret) (*c2c.Secrets, *c2c.Secret, error) {
	s := &c2c.Secrets{TESecret: *te}
	tag := new(c2c.Secret)
	if err := parseAnswer(line, &pairingForm, []*c2c.Secret{&s.Key, &s.HMACKey, tag}); err != nil {
		s.Zero()
		return nil, nil, err
	}
	if s.HMACKey.IsZero() {
		tag.Zero()
	}
	return s, tag, nil
}

// ParseRekeyAnswer reads the answer of a rekey that issues new secrets,
// +USECC2C: 3,0,"<key>"[,"<hmac_key>"], and returns the next generation's
// secrets: te (the te_secret does not change), the new key and the new
// hmac_key (zero, V1, when absent). The caller zeroes the result. Errors
// are those of ParsePairingAnswer.
func ParseRekeyAnswer(line string, te *c2c.Secret) (*c2c.Secrets, error) {
	s := &c2c.Secrets{TESecret: *te}
	if err := parseAnswer(line, &rekeyForm, []*c2c.Secret{&s.Key, &s.HMACKey}); err != nil {
		s.Zero()
		return nil, err
	}
	return s, nil
}

// FindAnswer returns the first of lines that is an answer to op (IsAnswer,
// with op as its first field), and whether there is one.
func FindAnswer(op Op, lines []string) (string, bool) {
	for _, l := range lines {
		if f, ok := answerFields(l); ok && f[0] == strconv.Itoa(int(op)) {
			return l, true
		}
	}
	return "", false
}

// answerFields splits an answer line after its prefix at the commas and
// trims the fields. It reports false if line is not an answer.
func answerFields(line string) ([]string, bool) {
	if !IsAnswer(line) {
		return nil, false
	}
	f := strings.Split(line[len(AnswerPrefix):], ",")
	for i := range f {
		f[i] = strings.TrimSpace(f[i])
	}
	return f, true
}

// parseAnswer checks line against form and decodes its values into dst
// (one per name of form); on error, dst is zeroed.
func parseAnswer(line string, form *answerForm, dst []*c2c.Secret) error {
	err := decodeAnswer(line, form, dst)
	if err != nil {
		for _, d := range dst {
			d.Zero()
		}
	}
	return err
}

func decodeAnswer(line string, form *answerForm, dst []*c2c.Secret) error {
	fields, ok := answerFields(line)
	switch {
	case !ok || fields[0] != strconv.Itoa(int(form.op)):
		return fmt.Errorf("%w: no +USECC2C: %d line (%s)", ErrBadAnswer, form.op, form.want)
	case len(fields) < 2 || !isStatus(fields[1]):
		return fmt.Errorf("%w: (%s)", ErrBadAnswer, form.want)
	case fields[1] != "0":
		return fmt.Errorf("%w: %v status %s, not 0 (success)", ErrRefused, form.op, fields[1])
	}
	values := fields[2:]
	switch n := len(values); {
	case n == 1 || n == len(form.names):
	case n > 1 && n < len(form.names) && form.gap != "":
		return fmt.Errorf("%w: %s (%s)", ErrBadAnswer, form.gap, form.want)
	default:
		return fmt.Errorf("%w: %d values (%s)", ErrBadAnswer, n, form.want)
	}
	for i, v := range values {
		uq, ok := unquote(v)
		if !ok {
			return fmt.Errorf("%w: the %s is not quoted (%s)", ErrBadAnswer, form.names[i], form.want)
		}
		k, err := c2c.ParseSecret(uq)
		if err != nil {
			// ParseSecret's error says what is wrong, never the value.
			return fmt.Errorf("%w: the %s is %v", ErrBadAnswer, form.names[i], err)
		}
		*dst[i] = k
		k.Zero()
	}
	return nil
}

// isStatus reports whether f is a small decimal number, safe to quote.
func isStatus(f string) bool {
	if f == "" || len(f) > 3 {
		return false
	}
	for _, c := range f {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// unquote removes the double quotes around v.
func unquote(v string) (string, bool) {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return "", false
	}
	return v[1 : len(v)-1], true
}
