package sink

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	c2c "github.com/c2cbridge/c2cbridge/crypto"
)

func secrets(v c2c.Version) *c2c.Secrets {
	return c2c.RandomSecrets(v)
}

// host plays the bridge's side of the dialogue the package doc describes.
type host struct {
	t      *testing.T
	conn   net.Conn
	sealer *c2c.Sealer
	opener *c2c.Opener
	got    chan string
}

func newHost(t *testing.T, conn net.Conn, s *c2c.Secrets) *host {
	h := &host{t: t, conn: conn, got: make(chan string, 16)}
	if s != nil {
		h.sealer, _ = c2c.NewSealer(s, rand.Reader, c2c.MaxHostPlaintext)
		h.opener, _ = c2c.NewOpener(s, 0)
	}
	return h
}

// read reads until want has arrived, opening frames when framed.
func (h *host) read(want string, framed bool) {
	h.t.Helper()
	var acc strings.Builder
	buf := make([]byte, 4096)
	h.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for !strings.Contains(acc.String(), want) {
		n, err := h.conn.Read(buf)
		if framed {
			h.opener.Feed(buf[:n], time.Now(), func(ev *c2c.Event) {
				if ev.Kind == c2c.Plaintext {
					acc.Write(ev.Data)
				}
			})
		} else {
			acc.Write(buf[:n])
		}
		if err != nil {
			h.t.Fatalf("waiting for %q, got %q: %v", want, acc.String(), err)
		}
	}
}

func (h *host) write(p []byte, framed bool) {
	h.t.Helper()
	if framed {
		p, _ = h.sealer.Seal(nil, p)
	}
	if _, err := h.conn.Write(p); err != nil {
		h.t.Fatal(err)
	}
}

func TestTransfer(t *testing.T) {
	data := make([]byte, 100_000)
	rand.Read(data)
	want := sha256.Sum256(data)
	for _, tc := range []struct {
		name string
		s    *c2c.Secrets
	}{{"plain", nil}, {"V1", secrets(c2c.V1)}, {"V2", secrets(c2c.V2)}} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := net.Pipe()
			defer a.Close()
			sk, err := New(Config{Secrets: tc.s, Want: int64(len(data))})
			if err != nil {
				t.Fatal(err)
			}
			served := make(chan error, 1)
			go func() { served <- sk.Serve(b) }()
			h := newHost(t, a, tc.s)
			framed := tc.s != nil
			if framed {
				h.write([]byte("AT\r"), false)
				h.read("\r\nOK\r\n", false)
				h.write([]byte(`AT+USECC2C=1,"`+tc.s.TESecret.Hex()+`"`+"\r"), false)
				h.read("\r\nOK\r\n", false)
				h.write([]byte("AT\r"), true)
				h.read("\r\nOK\r\n", true)
			}
			h.write([]byte("ATD*99#\r"), framed)
			h.read("\r\nCONNECT\r\n", framed)
			// Odd pieces, and the shutdown right behind the data.
			for p := data; len(p) > 0; {
				n := min(len(p), 777)
				h.write(p[:n], framed)
				p = p[n:]
			}
			h.write([]byte("+++"), framed)
			h.read("\r\nOK\r\n", framed)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			res, err := sk.Wait(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if res.Bytes != int64(len(data)) || res.Sum != want {
				t.Fatalf("got %d bytes, hash match %v", res.Bytes, res.Sum == want)
			}
			if framed && res.Rejected+res.Stray != 0 {
				t.Fatalf("rejected %d frames, %d stray bytes", res.Rejected, res.Stray)
			}
			a.Close()
			if err := <-served; !errors.Is(err, io.EOF) {
				t.Fatalf("Serve returned %v, want EOF", err)
			}
		})
	}
}

func TestWrongSecret(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	s := secrets(c2c.V2)
	sk, _ := New(Config{Secrets: s, Want: 1})
	go sk.Serve(b)
	h := newHost(t, a, s)
	h.write([]byte(`AT+USECC2C=1,"00000000000000000000000000000000"`+"\r"), false)
	h.read("\r\nERROR\r\n", false)
}
