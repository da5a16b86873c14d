package crypto

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"
)

// FuzzOpener feeds arbitrary bytes, in arbitrary splits, to an Opener: it
// must not panic, its buffer must stay bounded, and since the input cannot
// hold a frame made with the test keys (none is forged by chance), no
// plaintext may come out.
func FuzzOpener(f *testing.F) {
	for _, v := range loadVectors(f) {
		f.Add(mustHex(f, v.Frame), uint8(v.Version), uint16(7))
	}
	f.Add([]byte{Flag, 0x30, 0x00, 0xF9, 0xF9, 0xF9}, uint8(2), uint16(1))
	f.Add([]byte("\r\nRDY\r\n\xf9\xff\xff"), uint8(1), uint16(3))
	f.Fuzz(func(t *testing.T, data []byte, ver uint8, split uint16) {
		s := testSecrets(Version(1 + ver%2))
		o, err := NewOpener(s, 1040)
		if err != nil {
			t.Fatal(err)
		}
		limit := cap(o.buf)
		now := time.Unix(0, 0)
		step := 1 + int(split)%97
		for len(data) > 0 {
			n := min(step, len(data))
			o.Feed(data[:n], now, func(ev *Event) {
				if ev.Kind == Plaintext {
					t.Fatalf("plaintext %x from input not sealed with the keys", ev.Data)
				}
			})
			data = data[n:]
			now = now.Add(time.Duration(split) * time.Microsecond)
			if o.Pending() > limit || cap(o.buf) != limit {
				t.Fatalf("buffer grew to %d (limit %d)", cap(o.buf), limit)
			}
		}
		o.Poll(now.Add(time.Hour), func(*Event) {})
	})
}

// FuzzOpenerMixed builds a stream of authentic frames and lets the fuzzer
// corrupt it: every plaintext that comes out must be one that was sealed,
// and in the order it was sealed.
func FuzzOpenerMixed(f *testing.F) {
	f.Add([]byte("AT\r\x00OK\x01\x02hello"), []byte{3, 0xF9, 0x10}, uint8(2))
	f.Add([]byte("a\x00b\x00c"), []byte{}, uint8(1))
	f.Fuzz(func(t *testing.T, plain []byte, edits []byte, ver uint8) {
		s := testSecrets(Version(1 + ver%2))
		sealer, _ := NewSealer(s, bytes.NewReader(bytes.Repeat([]byte{0x5A, 0xA5, 0x3C}, 4096)), 255)
		var stream []byte
		var sent [][]byte
		for _, p := range bytes.Split(plain, []byte{0}) {
			if len(p) > 255 {
				p = p[:255]
			}
			var err error
			if stream, err = sealer.SealFrame(stream, p); err != nil {
				t.Skip()
			}
			sent = append(sent, p)
		}
		// Each pair of edit bytes flips, drops or inserts at a position.
		for len(edits) >= 3 && len(stream) > 0 {
			pos := int(binary.LittleEndian.Uint16(edits)) % len(stream)
			switch edits[2] % 3 {
			case 0:
				stream[pos] ^= 1 << (edits[2] % 8)
			case 1:
				stream = append(stream[:pos], stream[pos+1:]...)
			case 2:
				stream = append(stream[:pos], append([]byte{edits[2]}, stream[pos:]...)...)
			}
			edits = edits[3:]
		}
		o, _ := NewOpener(s, 1040)
		next := 0
		check := func(ev *Event) {
			if ev.Kind != Plaintext {
				return
			}
			for next < len(sent) && !bytes.Equal(sent[next], ev.Data) {
				next++
			}
			if next == len(sent) {
				t.Fatalf("plaintext %q was never sealed (or came out of order)", ev.Data)
			}
			next++
		}
		o.Feed(stream, time.Unix(0, 0), check)
		o.Poll(time.Unix(3600, 0), check)
	})
}
