package crypto

import (
	"crypto/rand"
	"fmt"
	"testing"
	"time"
)

func BenchmarkCodec(b *testing.B) {
	for _, v := range []Version{V1, V2} {
		for _, size := range []int{16, 255} {
			s := testSecrets(v)
			p := make([]byte, size)
			sealer, _ := NewSealer(s, rand.Reader, MaxHostPlaintext)
			frame, _ := sealer.SealFrame(nil, p)
			buf := make([]byte, 0, 2*len(frame))
			b.Run(fmt.Sprintf("seal/%v/%d", v, size), func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(size))
				for b.Loop() {
					buf, _ = sealer.SealFrame(buf[:0], p)
				}
			})
			b.Run(fmt.Sprintf("open/%v/%d", v, size), func(b *testing.B) {
				o, _ := NewOpener(s, 0)
				now := time.Now()
				got := 0
				fn := func(ev *Event) { got += len(ev.Data) }
				b.ReportAllocs()
				b.SetBytes(int64(size))
				for b.Loop() {
					o.Feed(frame, now, fn)
				}
				if got != size*b.N {
					b.Fatalf("opened %d bytes, want %d", got, size*b.N)
				}
			})
			b.Run(fmt.Sprintf("sealopen/%v/%d", v, size), func(b *testing.B) {
				o, _ := NewOpener(s, 0)
				now := time.Now()
				got := 0
				fn := func(ev *Event) { got += len(ev.Data) }
				b.ReportAllocs()
				b.SetBytes(int64(size))
				for b.Loop() {
					buf, _ = sealer.SealFrame(buf[:0], p)
					o.Feed(buf, now, fn)
				}
				if got != size*b.N {
					b.Fatalf("opened %d bytes, want %d", got, size*b.N)
				}
			})
		}
	}
}

func BenchmarkFCS(b *testing.B) {
	p := make([]byte, 290)
	b.ReportAllocs()
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		FCS(p)
	}
}
