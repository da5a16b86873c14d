package bridge

import (
	c2c "github.com/c2cbridge/c2cbridge/crypto"
)

// keys is one generation of session keys: the secrets, the sealer for
// frames to the module, the opener for its frames and the window of IVs
// seen in them. A generation is made, swapped in and wiped as one
// (useSecrets): the sealer and the secrets as soon as they are replaced,
// the opener by downstream, which may be inside it, at its next step.
type keys struct {
	secrets c2c.Secrets
	sealer  *c2c.Sealer // used under wmu
	opener  *c2c.Opener // used by downstream only
	replay  replaySet   // used by downstream only
}

// newKeys makes a generation for s with the engine's settings.
func newKeys(s *c2c.Secrets, cfg *Config) (*keys, error) {
	k := &keys{secrets: *s}
	var err error
	if k.sealer, err = c2c.NewSealer(&k.secrets, cfg.Rand, c2c.MaxHostPlaintext); err != nil {
		return nil, err
	}
	if k.opener, err = c2c.NewOpener(&k.secrets, cfg.MaxFrame); err != nil {
		k.sealer.Zero()
		return nil, err
	}
	k.opener.SetLineRate(cfg.Baud, 0)
	k.replay.init(replayWindow)
	return k, nil
}

// retire wipes what the control loop and upstream use: the secrets and
// the sealer. The opener is downstream's to wipe.
func (k *keys) retire() {
	k.secrets.Zero()
	k.sealer.Zero()
}

// zero wipes the whole generation; nobody may use it any more.
func (k *keys) zero() {
	k.retire()
	k.opener.Zero()
}

// useSecrets makes s the current generation. The caller is the control
// loop; it keeps its own copy of the old secrets if it needs them.
func (b *Bridge) useSecrets(s *c2c.Secrets) {
	next, err := newKeys(s, &b.cfg)
	if err != nil {
		// Only a bad key size fails here, and secrets are fixed-size arrays.
		panic("bridge: codec for new secrets: " + err.Error())
	}
	b.wmu.Lock()
	b.mu.Lock()
	old := b.keys
	b.keys = next
	b.mu.Unlock()
	old.retire()
	b.wmu.Unlock()
}

// currentSecrets returns a copy of the current secrets; zero it after use.
func (b *Bridge) currentSecrets() c2c.Secrets {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.keys.secrets
}
