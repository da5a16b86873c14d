package modemsim

import (
	"crypto/subtle"
	"fmt"
	"io"
	"strings"

	c2c "github.com/c2cbridge/c2cbridge/crypto"
)

// session is an open C2C session: the module seals with sealer and opens
// the host's frames with opener.
type session struct {
	sealer *c2c.Sealer
	opener *c2c.Opener
}

// newSession prepares a session on s. Host frames carry at most
// c2c.MaxHostPlaintext bytes: the module's limit (docs/protocol.md,
// "Sizes").
func (m *Module) newSession(s *c2c.Secrets) (*session, error) {
	sealer, err := c2c.NewSealer(s, m.rand, m.maxFrame)
	if err != nil {
		return nil, fmt.Errorf("modemsim: open session: %w", err)
	}
	opener, err := c2c.NewOpener(s, c2c.MaxHostPlaintext)
	if err != nil {
		sealer.Zero()
		return nil, fmt.Errorf("modemsim: open session: %w", err)
	}
	opener.SetLineRate(m.baud, 0)
	return &session{sealer: sealer, opener: opener}, nil
}

func (s *session) zero() {
	s.sealer.Zero()
	s.opener.Zero()
}

// startSession makes s the open session. Output staged before belongs to
// plain text and is flushed first. m.mu held.
func (m *Module) startSession(s *session) {
	m.flush()
	m.sess = s
	m.stats.Opens++
	m.event("open")
}

// endSession ends the open session, if any; output staged before it is
// sealed first. m.mu held.
func (m *Module) endSession() {
	if m.sess == nil {
		return
	}
	m.flush()
	s := m.sess
	m.sess = nil
	if m.feeding != s {
		s.zero()
	}
}

// Security command errors, by AT+CMEE setting.
var (
	errNotAllowed = cmeError{3, "operation not allowed"}
	errSecBusy    = cmeError{100, "SEC busy"}
)

// cmeError is a +CME ERROR with its number and its verbose text.
type cmeError struct {
	code int
	text string
}

// cme formats e as AT+CMEE asks. m.mu held.
func (m *Module) cme(e cmeError) string {
	switch m.cmee() {
	case 1:
		return fmt.Sprintf("+CME ERROR: %d", e.code)
	case 2:
		return "+CME ERROR: " + e.text
	}
	return "ERROR"
}

// security runs AT+USECC2C=<args>. m.mu held.
func (m *Module) security(args []string) result {
	if m.busyN > 0 {
		m.busyN--
		m.stats.BusyAnswers++
		m.event("sec busy")
		return fail(m.cme(errSecBusy))
	}
	if len(args) == 0 {
		return fail("ERROR")
	}
	switch args[0] {
	case "0":
		return m.pair(args[1:])
	case "1":
		return m.open(args[1:])
	case "2":
		if len(args) != 1 {
			return fail("ERROR")
		}
		if m.sess == nil {
			return fail(m.cme(errNotAllowed))
		}
		return result{final: "OK", after: func() {
			m.endSession()
			m.stats.Closes++
			m.event("close")
		}}
	case "3":
		if len(args) != 1 {
			return fail("ERROR")
		}
		if m.sess == nil {
			return fail(m.cme(errNotAllowed))
		}
		return m.rekeySession()
	case "4":
		return m.confirmPairing(args[1:])
	}
	return fail("ERROR")
}

// pair runs op 0: fresh key (and hmac_key and confirmation tag for V2).
func (m *Module) pair(args []string) result {
	if len(args) != 1 {
		return fail("ERROR")
	}
	if !m.pairable || m.sess != nil {
		return fail(m.cme(errNotAllowed))
	}
	te, err := c2c.ParseSecret(args[0])
	if err != nil {
		return fail("ERROR")
	}
	s := &c2c.Secrets{TESecret: te}
	var tag c2c.Secret
	fresh := []*c2c.Secret{&s.Key}
	if m.version == c2c.V2 {
		fresh = append(fresh, &s.HMACKey, &tag)
	}
	if err := m.fill(fresh...); err != nil {
		m.log.Error("modemsim: pairing: no randomness", "err", err)
		return fail("ERROR")
	}
	if m.secrets != nil {
		m.secrets.Zero()
	}
	m.secrets = s
	m.tag = tag
	m.confirm = m.version == c2c.V1
	m.stats.Pairings++
	m.event("pair " + m.version.String())
	info := `+USECC2C: 0,0,"` + upperHex(&s.Key) + `"`
	if m.version == c2c.V2 {
		info += `,"` + upperHex(&s.HMACKey) + `","` + upperHex(&tag) + `"`
	}
	return result{info: []string{info}, final: "OK"}
}

// confirmPairing runs op 4: the host proves it holds the V2 secrets.
func (m *Module) confirmPairing(args []string) result {
	if len(args) != 2 {
		return fail("ERROR")
	}
	if m.secrets == nil || m.confirm || m.secrets.Version() != c2c.V2 {
		return fail(m.cme(errNotAllowed))
	}
	te, err := c2c.ParseSecret(args[0])
	if err != nil || subtle.ConstantTimeCompare(te[:], m.secrets.TESecret[:]) != 1 {
		m.event("confirm refused")
		return fail("ERROR")
	}
	tag, err := c2c.OpenConfirmation(m.secrets, args[1])
	if err != nil || subtle.ConstantTimeCompare(tag[:], m.tag[:]) != 1 {
		m.event("confirm refused")
		return fail("ERROR")
	}
	m.confirm = true
	m.tag.Zero()
	m.stats.Confirmations++
	m.event("confirm")
	return result{final: "OK"}
}

// open runs op 1. The OK is plain text; the session starts after it.
func (m *Module) open(args []string) result {
	if len(args) != 1 {
		return fail("ERROR")
	}
	te, err := c2c.ParseSecret(args[0])
	if err != nil {
		return fail("ERROR")
	}
	if m.sess != nil || m.secrets == nil || !m.confirm ||
		subtle.ConstantTimeCompare(te[:], m.secrets.TESecret[:]) != 1 {
		m.event("open refused")
		return fail(m.cme(errNotAllowed))
	}
	s, err := m.newSession(m.secrets)
	if err != nil {
		m.log.Error("modemsim: open refused", "err", err)
		return fail("ERROR")
	}
	return result{final: "OK", after: func() { m.startSession(s) }}
}

// rekeySession runs op 3 in a session (docs/protocol.md, "Rekeying").
func (m *Module) rekeySession() result {
	if m.rekey == RekeySame {
		return result{final: "OK", after: func() {
			m.endSession()
			m.stats.Rekeys++
			m.event("rekey same")
		}}
	}
	next := &c2c.Secrets{TESecret: m.secrets.TESecret}
	fresh := []*c2c.Secret{&next.Key}
	v2 := m.secrets.Version() == c2c.V2
	if v2 {
		fresh = append(fresh, &next.HMACKey)
	}
	if err := m.fill(fresh...); err != nil {
		m.log.Error("modemsim: rekey: no randomness", "err", err)
		return fail("ERROR")
	}
	info := `+USECC2C: 3,0,"` + upperHex(&next.Key) + `"`
	if v2 {
		info += `,"` + upperHex(&next.HMACKey) + `"`
	}
	return result{info: []string{info}, final: "OK", after: func() {
		m.endSession()
		m.secrets.Zero()
		m.secrets = next
		m.stats.Rekeys++
		m.event("rekey new")
	}}
}

// fill reads fresh random secrets; a V2 hmac_key must not come out zero.
func (m *Module) fill(ks ...*c2c.Secret) error {
	for _, k := range ks {
		for {
			if _, err := io.ReadFull(m.rand, k[:]); err != nil {
				return fmt.Errorf("modemsim: random secret: %w", err)
			}
			if !k.IsZero() {
				break
			}
		}
	}
	return nil
}

func upperHex(k *c2c.Secret) string { return strings.ToUpper(k.Hex()) }
