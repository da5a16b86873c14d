package at

import (
	"strings"
	"testing"
)

// TestRedactEdited: secrets typed with spaces, in any case, or with editing
// bytes (on the edited line the bridge logs, and on a raw line) never reach
// a log line.
func TestRedactEdited(t *testing.T) {
	for in, want := range map[string]string{
		`AT +CPI N="1234"`:                        `AT +CPI N=<redacted>`,
		`at + c p i n = "1234"`:                   `at + c p i n =<redacted>`,
		"AT+CPIX\bN=1234":                         "AT+CPIX\bN=<redacted>",
		"AT+CPIX\x7fN=1234":                       "AT+CPIX\x7fN=<redacted>",
		"AT+CP\x01IN=1234":                        "AT+CP\x01IN=<redacted>",
		`AT+CP"IN"=1234`:                          `AT+CP"IN"=<redacted>`,
		"AT+CPIN=1234\b\b\b\b\b\b\b\b\b\b\b\bATI": "AT+CPIN=<redacted>",
		`AT+CPIN "1234"`:                          `AT+CPIN<redacted>`,
		`AT+CPIN?;+CPIN="1234"`:                   `AT+CPIN?;+CPIN=<redacted>`,
		`AT+CPIN=?`:                               `AT+CPIN=?`,
		`AT+CPIN`:                                 `AT+CPIN`,
		`AT+CPIN?;+CSQ`:                           `AT+CPIN?;+CSQ`,
		`AT+CMEE=2;+CPIN="1234";+CSQ`:             `AT+CMEE=2;+CPIN=<redacted>`,
		`AT+CLCK="SC",1,"1234"`:                   `AT+CLCK=<redacted>`,
		`AT+CPWD="SC","1234","5678"`:              `AT+CPWD=<redacted>`,
		`AT+UPSD=0,3,"secret"`:                    `AT+UPSD=<redacted>`,
		`AT+USECPRF=0,9,"psk"`:                    `AT+USECPRF=<redacted>`,
		`AT+USECMNG=0,2,"k",10,"pw"`:              `AT+USECMNG=<redacted>`,
		`AT+UMQTT=5,"pw"`:                         `AT+UMQTT=<redacted>`,
		`+USECC2C: 3,0,"00112233"`:                `+USECC2C:<redacted>`,
		`AT+USEC C2C=3`:                           `AT+USEC C2C=<redacted>`,
		`AT+CSQ`:                                  `AT+CSQ`,
		`+CSQ: 20,99`:                             `+CSQ: 20,99`,
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestRedactEveryName: each listed name hides what follows it.
func TestRedactEveryName(t *testing.T) {
	for _, name := range redacted {
		in := "AT" + strings.ToLower(name) + `="s3cr3t"`
		if got := Redact(in); strings.Contains(got, "s3cr3t") {
			t.Errorf("Redact(%q) = %q", in, got)
		}
	}
}
