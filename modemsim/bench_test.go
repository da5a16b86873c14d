package modemsim

import (
	"context"
	"crypto/rand"
	"io"
	"net"
	"testing"
	"time"

	c2c "github.com/c2cbridge/c2cbridge/crypto"
)

// BenchmarkDataModeSession measures the data-mode loop back in a V2
// session over net.Pipe: the host seals 255-byte frames, the module opens
// them, seals the echo and the host opens that.
func BenchmarkDataModeSession(b *testing.B) {
	s := testSecrets(b, c2c.V2)
	m, err := New(Config{Secrets: s})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	a, h := net.Pipe()
	defer h.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go m.Serve(ctx, a)

	// Open and go to data mode in plain steps, then count echoed bytes.
	sealer, opener := codecs(b, s)
	h.Write([]byte(`AT+USECC2C=1,"` + s.TESecret.Hex() + `"` + "\r"))
	readUntil(b, h, "\r\nOK\r\n")
	f, _ := sealer.Seal(nil, []byte("ATD*99#\r"))
	h.Write(f)

	got := make(chan int, 64)
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, err := h.Read(buf)
			total := 0
			opener.Feed(buf[:n], time.Now(), func(ev *c2c.Event) {
				if ev.Kind == c2c.Plaintext {
					total += len(ev.Data)
				}
			})
			got <- total
			if err != nil {
				close(got)
				return
			}
		}
	}()
	// Skip CONNECT.
	for n := 0; n < len("\r\nCONNECT\r\n"); n += <-got {
	}

	chunk := make([]byte, 64<<10)
	rand.Read(chunk)
	for i := range chunk {
		if chunk[i] == '+' {
			chunk[i] = '-'
		}
	}
	sealed, _ := sealer.Seal(nil, chunk)
	b.SetBytes(int64(len(chunk)))
	b.ResetTimer()
	wrote := make(chan error, 1)
	for range b.N {
		go func() {
			_, err := h.Write(sealed)
			wrote <- err
		}()
		for n := 0; n < len(chunk); {
			k, ok := <-got
			if !ok {
				b.Fatal("line closed")
			}
			n += k
		}
		if err := <-wrote; err != nil {
			b.Fatal(err)
		}
	}
}

func readUntil(tb testing.TB, r io.Reader, want string) {
	tb.Helper()
	var acc []byte
	buf := make([]byte, 256)
	for {
		n, err := r.Read(buf)
		acc = append(acc, buf[:n]...)
		if len(acc) >= len(want) && string(acc[len(acc)-len(want):]) == want {
			return
		}
		if err != nil {
			tb.Fatal(err)
		}
	}
}
