// Package usec holds the AT+USECC2C security commands of the C2C protocol:
// building them, parsing their answers and classifying their results
// (docs/protocol.md, "Security commands" and "Errors and timeouts").
//
// The five commands are
//
//	AT+USECC2C=0,"<te_secret>"                   pair (plain text)
//	AT+USECC2C=1,"<te_secret>"                   open a session (plain text)
//	AT+USECC2C=2                                 close the session (in a frame)
//	AT+USECC2C=3                                 rekey (in a frame)
//	AT+USECC2C=4,"<te_secret>","<sealed tag>"    confirm a V2 pairing (plain text)
//
// A pairing is answered +USECC2C: 0,0,"<key>"[,"<hmac_key>","<conf_tag>"]
// and a rekey that issues new secrets +USECC2C: 3,0,"<key>"[,"<hmac_key>"];
// ParsePairingAnswer and ParseRekeyAnswer read them with one set of rules.
// Classify tells what a command's final result line means (done, busy,
// refused, failed).
//
// Three of the commands carry the te_secret and two answers carry the key,
// so the package keeps secrets out of strings it cannot clear: the
// builders return byte slices the caller wipes (Wipe) once it has written
// them, and no error of a parser quotes a value of the answer it read.
//
// The package does no I/O: it depends only on package at (the AT text
// conventions) and package crypto (the secrets). The pairing dialogue that
// uses it is in package pairing, the session's use in package bridge.
package usec

import (
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"github.com/c2cbridge/c2cbridge/at"
	c2c "github.com/c2cbridge/c2cbridge/crypto"
)

// Op is the operation number of a security command: the first parameter of
// AT+USECC2C= and the first field of its +USECC2C: answer.
type Op int

// The operations of AT+USECC2C.
const (
	OpPair    Op = 0 // pair: the module issues the key (and hmac_key)
	OpOpen    Op = 1 // open a secure session with the te_secret
	OpClose   Op = 2 // close the session; plain text follows
	OpRekey   Op = 3 // end the session, possibly with new secrets
	OpConfirm Op = 4 // confirm a V2 pairing with the sealed tag
)

// String returns the operation's name, such as "pairing" or "rekey".
func (op Op) String() string {
	switch op {
	case OpPair:
		return "pairing"
	case OpOpen:
		return "open"
	case OpClose:
		return "close"
	case OpRekey:
		return "rekey"
	case OpConfirm:
		return "pairing confirmation"
	}
	return "operation " + strconv.Itoa(int(op))
}

// CommandPrefix starts every security command line.
const CommandPrefix = "AT+USECC2C="

// AnswerPrefix starts the information line of a security command's answer.
const AnswerPrefix = "+USECC2C:"

// NotAllowedLine is the vendor's bare refusal of a pairing or an open, a
// final result of its own besides the at.IsFinal ones.
const NotAllowedLine = "NOT_ALLOWED"

// Timeout is how long a security command may take to be answered: the
// vendor's host library allows 150 s for every one of them, the open
// included (docs/protocol.md, "Errors and timeouts").
const Timeout = 150 * time.Second

// quotedSecretLen is the length of a secret written as a quoted AT string
// parameter, with the comma before it: ,"<32 hex>".
const quotedSecretLen = len(`,""`) + c2c.SecretHexLen

// PairCommand returns AT+USECC2C=0,"<te_secret>", without the CR.
//
// Like every builder here it returns a slice with room for the CR, so
// append(cmd, '\r') does not copy the te_secret elsewhere. The slice holds
// the te_secret: the caller wipes it with Wipe once it has been written.
func PairCommand(te *c2c.Secret) []byte { return command(OpPair, te, "") }

// OpenCommand returns AT+USECC2C=1,"<te_secret>", without the CR, in a
// slice the caller wipes with Wipe after writing it (see PairCommand).
func OpenCommand(te *c2c.Secret) []byte { return command(OpOpen, te, "") }

// CloseCommand returns AT+USECC2C=2, without the CR.
func CloseCommand() []byte { return command(OpClose, nil, "") }

// RekeyCommand returns AT+USECC2C=3, without the CR.
func RekeyCommand() []byte { return command(OpRekey, nil, "") }

// ConfirmCommand returns AT+USECC2C=4,"<te_secret>","<sealed>", without the
// CR, in a slice the caller wipes with Wipe after writing it (see
// PairCommand). sealed is the hex of the sealed confirmation tag, as
// crypto.SealConfirmation returns it.
func ConfirmCommand(te *c2c.Secret, sealed string) []byte { return command(OpConfirm, te, sealed) }

// command returns AT+USECC2C=<op>[,"<te>"[,"<extra>"]] in a slice with one
// spare byte for the CR.
func command(op Op, te *c2c.Secret, extra string) []byte {
	n := len(CommandPrefix) + 1 + 1 // op digit, CR
	if te != nil {
		n += quotedSecretLen
	}
	if extra != "" {
		n += len(`,""`) + len(extra)
	}
	cmd := make([]byte, 0, n)
	cmd = append(cmd, CommandPrefix...)
	cmd = strconv.AppendInt(cmd, int64(op), 10)
	if te != nil {
		cmd = appendQuotedHex(cmd, te[:])
	}
	if extra != "" {
		cmd = append(cmd, ',', '"')
		cmd = append(cmd, extra...)
		cmd = append(cmd, '"')
	}
	return cmd
}

// appendQuotedHex appends ,"<lower-case hex of b>" to dst, which has the
// room for it: the hex is written in place, never in a temporary copy.
func appendQuotedHex(dst, b []byte) []byte {
	dst = append(dst, ',', '"')
	dst = hex.AppendEncode(dst, b)
	return append(dst, '"')
}

// Wipe overwrites the whole backing array of cmd, up to its capacity, with
// zeros: a command line with its CR appended is wiped too.
func Wipe(cmd []byte) { clear(cmd[:cap(cmd)]) }

// IsCommand reports whether line is a security command, AT+USECC2C=...
// in any case, such as a module's echo of one. The bridge can drop the echo
// of a command carrying the te_secret without comparing it with the
// secret.
func IsCommand(line string) bool { return hasPrefixFold(strings.TrimSpace(line), CommandPrefix) }

// IsAnswer reports whether line is the information line of a security
// command's answer: it starts with +USECC2C: in any case.
func IsAnswer(line string) bool { return hasPrefixFold(line, AnswerPrefix) }

// IsFinal reports whether line ends the answer to a security command: an
// at.IsFinal result code or a bare NOT_ALLOWED.
func IsFinal(line string) bool { return at.IsFinal(line) || line == NotAllowedLine }

// hasPrefixFold is strings.HasPrefix, ignoring ASCII case.
func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}
