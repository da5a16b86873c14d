package bridge

import (
	"fmt"
	"time"

	c2c "github.com/c2cbridge/c2cbridge/crypto"
)

// This file keeps the key file in step with the module's secrets
// (Config.SaveSecrets, Config.CanSave). When the file cannot be written,
// the module has moved on all the same: the bridge goes on with the
// secrets in memory, stops rekeying, reports key_file_unsaved, and tries
// the file again every unsavedEvery, logging an error each time it fails.

// save persists secrets through SaveSecrets; a failure is reported, never
// returned: the module has moved on and the session must go on with it.
func (b *Bridge) save(cur, prev *c2c.Secrets) {
	if b.cfg.SaveSecrets == nil {
		return
	}
	if err := b.cfg.SaveSecrets(cur, prev); err != nil {
		b.ctrl.savePending = true
		b.keyFileFailed(fmt.Errorf("saving the key file failed: the module's current secrets are only in memory; fix the key file's directory before the bridge restarts: %w", err))
		return
	}
	b.ctrl.savePending = false
	b.keyFileSaved()
}

// saveCurrent saves the current generation alone (confirmed).
func (b *Bridge) saveCurrent() {
	cur := b.currentSecrets()
	defer cur.Zero()
	b.save(&cur, nil)
}

// keyFileFailed logs err, marks the key file unsaved (rekeys wait) and
// schedules the next try.
func (b *Bridge) keyFileFailed(err error) {
	b.log.Error("key file not saved", "err", err)
	b.ctrl.unsavedRetry = time.Now().Add(unsavedEvery)
	b.setUnsaved(true)
}

// keyFileSaved clears the unsaved mark after a write that worked.
func (b *Bridge) keyFileSaved() {
	if b.unsaved() {
		b.log.Info("key file saved; rekeys resume")
		b.setUnsaved(false)
	}
}

// retrySave tries the key file again: the pending write if secrets are
// only in memory, else the writability check.
func (b *Bridge) retrySave() {
	if b.ctrl.savePending {
		b.saveCurrent()
		return
	}
	if b.cfg.CanSave != nil {
		if err := b.cfg.CanSave(); err != nil {
			b.keyFileFailed(fmt.Errorf("rekeys wait: the key file cannot be written: %w", err))
			return
		}
	}
	b.keyFileSaved()
}

// unsaved reports whether the key file is marked unsaved.
func (b *Bridge) unsaved() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sched.unsaved
}

// setUnsaved moves the unsaved mark and reports a change to OnState.
func (b *Bridge) setUnsaved(on bool) {
	b.mu.Lock()
	changed := b.sched.unsaved != on
	b.sched.unsaved = on
	b.mu.Unlock()
	if changed {
		b.notifyState()
	}
}
