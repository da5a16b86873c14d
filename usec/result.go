package usec

import (
	"strings"

	"github.com/c2cbridge/c2cbridge/at"
)

// Result is what the final result line of a security command means.
type Result int

// The results Classify tells apart.
const (
	// ResultOK: the command was done.
	ResultOK Result = iota
	// ResultBusy: "+CME ERROR: SEC busy", which a module answers for a
	// while after power-on: retry later.
	ResultBusy
	// ResultNotAllowed: a refusal, as a bare NOT_ALLOWED or as a +CME
	// ERROR ("operation not allowed", its number 3, or NOT_ALLOWED): the
	// module does not allow the operation in its state.
	ResultNotAllowed
	// ResultError: any other failure (ERROR, another +CME or +CMS ERROR,
	// or a line that is no final result).
	ResultError
)

// String returns "OK", "busy", "not allowed" or "error".
func (r Result) String() string {
	switch r {
	case ResultOK:
		return "OK"
	case ResultBusy:
		return "busy"
	case ResultNotAllowed:
		return "not allowed"
	}
	return "error"
}

// cmeNotAllowed is the numeric +CME ERROR (AT+CMEE=1) of "operation not
// allowed".
const cmeNotAllowed = "3"

// Classify tells what the final result line of a security command means.
// The text of a +CME ERROR is matched in any case; send AT+CMEE=2 first,
// or a busy module answers a bare ERROR or a number (ResultError).
func Classify(final string) Result {
	if final == at.OK {
		return ResultOK
	}
	if final == NotAllowedLine {
		return ResultNotAllowed
	}
	text, ok := strings.CutPrefix(final, at.CMEPrefix)
	if !ok {
		return ResultError
	}
	text = strings.ToLower(strings.TrimSpace(text))
	switch {
	case strings.Contains(text, "busy"):
		return ResultBusy
	case text == cmeNotAllowed, strings.Contains(text, "not allowed"), strings.Contains(text, "not_allowed"):
		return ResultNotAllowed
	}
	return ResultError
}
