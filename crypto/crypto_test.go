package crypto

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"
)

type vector struct {
	Version   int    `json:"version"`
	TESecret  string `json:"te_secret"`
	Key       string `json:"key"`
	HMACKey   string `json:"hmac_key"`
	IV        string `json:"iv"`
	Plaintext string `json:"plaintext"`
	Frame     string `json:"frame"`
}

func loadVectors(t testing.TB) []vector {
	t.Helper()
	data, err := os.ReadFile("testdata/c2c-vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct{ Vectors []vector }
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Vectors) == 0 {
		t.Fatal("no vectors")
	}
	return f.Vectors
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (v vector) secrets(t testing.TB) *Secrets {
	t.Helper()
	s := &Secrets{}
	copy(s.TESecret[:], mustHex(t, v.TESecret))
	copy(s.Key[:], mustHex(t, v.Key))
	copy(s.HMACKey[:], mustHex(t, v.HMACKey))
	return s
}

// testSecrets returns fixed secrets of the given version.
func testSecrets(v Version) *Secrets {
	s := &Secrets{}
	for i := range SecretSize {
		s.TESecret[i] = byte(i)
		s.Key[i] = byte(0x10 + i)
		if v == V2 {
			s.HMACKey[i] = byte(0x20 + i)
		}
	}
	return s
}

// collect feeds the chunks to o and returns the plaintext and the events.
type collected struct {
	plain    []byte
	frames   int
	rejected []error
	stray    []byte
}

func (c *collected) handle(ev *Event) {
	switch ev.Kind {
	case Plaintext:
		c.plain = append(c.plain, ev.Data...)
		c.frames++
	case Rejected:
		c.rejected = append(c.rejected, ev.Err)
	case Stray:
		c.stray = append(c.stray, ev.Data...)
	}
}

func TestVectors(t *testing.T) {
	seen := map[int]int{}
	for i, v := range loadVectors(t) {
		t.Run(fmt.Sprintf("%d/V%d/%dB", i, v.Version, len(v.Plaintext)/2), func(t *testing.T) {
			s := v.secrets(t)
			if int(s.Version()) != v.Version {
				t.Fatalf("Version() = %v, vector says %d", s.Version(), v.Version)
			}
			seen[v.Version]++
			plain, frame := mustHex(t, v.Plaintext), mustHex(t, v.Frame)
			sealer, err := NewSealer(s, bytes.NewReader(mustHex(t, v.IV)), max(len(plain), 1))
			if err != nil {
				t.Fatal(err)
			}
			got, err := sealer.SealFrame(nil, plain)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, frame) {
				t.Fatalf("seal:\n got %x\nwant %x", got, frame)
			}
			if FrameLen(s.Version(), len(plain)) != len(frame) {
				t.Fatalf("FrameLen = %d, frame is %d", FrameLen(s.Version(), len(plain)), len(frame))
			}
			o, err := NewOpener(s, max(len(plain), DefaultMaxPlaintext))
			if err != nil {
				t.Fatal(err)
			}
			var c collected
			o.Feed(frame, time.Now(), c.handle)
			if c.frames != 1 || !bytes.Equal(c.plain, plain) || len(c.rejected) != 0 || len(c.stray) != 0 {
				t.Fatalf("open: frames=%d rejected=%v stray=%d plain=%x want %x", c.frames, c.rejected, len(c.stray), c.plain, plain)
			}
		})
	}
	if seen[1] == 0 || seen[2] == 0 {
		t.Fatalf("vectors must cover V1 and V2: %v", seen)
	}
}

func TestFCS(t *testing.T) {
	if got := FCS([]byte("123456789")); got != 0x906E {
		t.Fatalf("FCS(123456789) = %#04x, want 0x906e", got)
	}
	// The sliced computation must agree with the bit-by-bit definition.
	bitwise := func(p []byte) uint16 {
		crc := uint16(0xFFFF)
		for _, b := range p {
			crc ^= uint16(b)
			for range 8 {
				if crc&1 != 0 {
					crc = crc>>1 ^ 0x8408
				} else {
					crc >>= 1
				}
			}
		}
		return ^crc
	}
	r := rand.New(rand.NewPCG(1, 2))
	for n := range 100 {
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(r.Uint32())
		}
		if FCS(p) != bitwise(p) {
			t.Fatalf("len %d: FCS %#x, bitwise %#x", n, FCS(p), bitwise(p))
		}
	}
}

func TestFrameLen(t *testing.T) {
	for _, tc := range []struct {
		v    Version
		n    int
		want int
	}{
		{V2, 12, 54}, {V1, 12, 70}, // "Hello world!"
		{V2, 255, 294}, {V1, 255, 310},
		{V2, 0, 54}, {V1, 0, 70},
		{V2, 16, 70}, {V1, 16, 86},
	} {
		if got := FrameLen(tc.v, tc.n); got != tc.want {
			t.Errorf("FrameLen(%v, %d) = %d, want %d", tc.v, tc.n, got, tc.want)
		}
	}
}

// TestMaxPlaintextLimit checks that a frame carrying MaxPlaintextLimit bytes
// seals and opens in both versions, that its LEN fits the 16-bit field, and
// that one byte more does not fit in at least one version (so the limit is
// the largest one both can carry).
func TestMaxPlaintextLimit(t *testing.T) {
	const lenMax = 1<<(8*LenSize) - 1
	if MaxPlaintextLimit != 65471 {
		t.Errorf("MaxPlaintextLimit = %d, want 65471", MaxPlaintextLimit)
	}
	overflows := 0
	for _, v := range []Version{V1, V2} {
		t.Run(v.String(), func(t *testing.T) {
			if n := BodyLen(v, MaxPlaintextLimit); n > lenMax {
				t.Fatalf("BodyLen(%v, MaxPlaintextLimit) = %d, more than LEN can say", v, n)
			}
			if BodyLen(v, MaxPlaintextLimit+1) > lenMax {
				overflows++
				if _, err := NewSealer(testSecrets(v), reader(rand.New(rand.NewPCG(1, 1))), MaxPlaintextLimit+1); err == nil {
					t.Errorf("NewSealer(%v) accepted %d bytes, whose LEN does not fit", v, MaxPlaintextLimit+1)
				}
			}
			s := testSecrets(v)
			r := rand.New(rand.NewPCG(uint64(v), 65471))
			sealer, err := NewSealer(s, reader(r), MaxPlaintextLimit)
			if err != nil {
				t.Fatal(err)
			}
			p := randBytes(r, MaxPlaintextLimit)
			frame, err := sealer.SealFrame(nil, p)
			if err != nil {
				t.Fatal(err)
			}
			if got := int(frame[1]) | int(frame[2])<<8; got != BodyLen(v, MaxPlaintextLimit) {
				t.Fatalf("LEN = %d, want %d", got, BodyLen(v, MaxPlaintextLimit))
			}
			o, err := NewOpener(s, MaxPlaintextLimit)
			if err != nil {
				t.Fatal(err)
			}
			var c collected
			o.Feed(frame, time.Now(), c.handle)
			if c.frames != 1 || !bytes.Equal(c.plain, p) || len(c.rejected) != 0 || len(c.stray) != 0 {
				t.Fatalf("open: frames=%d rejected=%v stray=%d, plaintext equal: %v", c.frames, c.rejected, len(c.stray), bytes.Equal(c.plain, p))
			}
		})
	}
	if overflows == 0 {
		t.Errorf("MaxPlaintextLimit+1 fits LEN in both versions: the limit is not the largest")
	}
}

func TestUnpad(t *testing.T) {
	block := func(fill byte, tail ...byte) []byte {
		b := bytes.Repeat([]byte{fill}, BlockSize)
		copy(b[BlockSize-len(tail):], tail)
		return b
	}
	for _, tc := range []struct {
		name string
		p    []byte
		n    int
		ok   bool
	}{
		{"one byte of 1", block('a', 1), 15, true},
		{"full block of 16", bytes.Repeat([]byte{16}, 16), 0, true},
		{"two of 2", block('a', 2, 2), 14, true},
		{"zero pad byte", block('a', 0), 0, false},
		{"pad 17", bytes.Repeat([]byte{17}, 16), 0, false},
		{"pad 3 with a wrong byte", block('a', 9, 3, 3), 0, false},
		{"pad 16 with a wrong byte", append([]byte{15}, bytes.Repeat([]byte{16}, 15)...), 0, false},
		{"not a block multiple", []byte{1}, 0, false},
		{"two blocks", append(block('x'), block('b', 4, 4, 4, 4)...), 28, true},
	} {
		n, ok := unpad(tc.p)
		if ok != tc.ok || (ok && n != tc.n) {
			t.Errorf("%s: unpad = %d, %v; want %d, %v", tc.name, n, ok, tc.n, tc.ok)
		}
	}
}

func randBytes(r *rand.Rand, n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(r.Uint32())
	}
	return p
}

// feedSplit feeds stream to o in the given way.
func feedSplit(o *Opener, stream []byte, how string, r *rand.Rand, fn func(*Event)) {
	now := time.Now()
	switch how {
	case "whole":
		o.Feed(stream, now, fn)
	case "bytes":
		for i := range stream {
			o.Feed(stream[i:i+1], now, fn)
		}
	case "random":
		for len(stream) > 0 {
			n := min(len(stream), 1+r.IntN(700))
			o.Feed(stream[:n], now, fn)
			stream = stream[n:]
		}
	}
}

func TestRoundTripEveryLength(t *testing.T) {
	const maxN = 1040
	for _, v := range []Version{V1, V2} {
		s := testSecrets(v)
		r := rand.New(rand.NewPCG(uint64(v), 7))
		sealer, err := NewSealer(s, reader(r), maxN)
		if err != nil {
			t.Fatal(err)
		}
		// One stream: every length 0..1040, with junk (no flag) between some frames.
		var stream, want []byte
		var wantJunk int
		for n := 0; n <= maxN; n++ {
			p := randBytes(r, n)
			want = append(want, p...)
			if stream, err = sealer.SealFrame(stream, p); err != nil {
				t.Fatal(err)
			}
			if n%7 == 0 {
				junk := []byte("\r\nRDY\r\n")
				stream = append(stream, junk...)
				wantJunk += len(junk)
			}
		}
		for _, how := range []string{"whole", "bytes", "random"} {
			t.Run(fmt.Sprintf("%v/%s", v, how), func(t *testing.T) {
				o, err := NewOpener(s, maxN)
				if err != nil {
					t.Fatal(err)
				}
				var c collected
				feedSplit(o, stream, how, r, c.handle)
				if c.frames != maxN+1 || !bytes.Equal(c.plain, want) {
					t.Fatalf("frames %d (want %d), plaintext equal: %v", c.frames, maxN+1, bytes.Equal(c.plain, want))
				}
				if len(c.rejected) != 0 || len(c.stray) != wantJunk {
					t.Fatalf("rejected %v, stray %d bytes (want %d)", c.rejected, len(c.stray), wantJunk)
				}
				if o.Pending() != 0 {
					t.Fatalf("pending %d", o.Pending())
				}
			})
		}
	}
}

func TestSealSplitsLongInput(t *testing.T) {
	for _, v := range []Version{V1, V2} {
		s := testSecrets(v)
		r := rand.New(rand.NewPCG(3, 4))
		sealer, _ := NewSealer(s, reader(r), MaxHostPlaintext)
		p := randBytes(r, 1000)
		out, err := sealer.Seal(nil, p)
		if err != nil {
			t.Fatal(err)
		}
		if len(out) != sealer.SealedLen(len(p)) {
			t.Fatalf("%v: %d bytes, SealedLen says %d", v, len(out), sealer.SealedLen(len(p)))
		}
		o, _ := NewOpener(s, 0)
		var c collected
		o.Feed(out, time.Now(), c.handle)
		if c.frames != 4 || !bytes.Equal(c.plain, p) {
			t.Fatalf("%v: %d frames, equal %v", v, c.frames, bytes.Equal(c.plain, p))
		}
		if _, err := sealer.SealFrame(nil, p[:256]); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("256-byte host frame: %v, want ErrTooLarge", err)
		}
	}
}

func TestBitFlips(t *testing.T) {
	for _, v := range []Version{V1, V2} {
		s := testSecrets(v)
		r := rand.New(rand.NewPCG(5, 6))
		sealer, _ := NewSealer(s, reader(r), MaxHostPlaintext)
		frame, _ := sealer.SealFrame(nil, []byte("AT+CGMI\r"))
		good, _ := sealer.SealFrame(nil, []byte("after"))
		o, _ := NewOpener(s, 0)
		var base collected
		o.Feed(frame, time.Now(), base.handle)
		if string(base.plain) != "AT+CGMI\r" {
			t.Fatalf("%v: unflipped frame gave %q", v, base.plain)
		}
		for bit := range len(frame) * 8 {
			flipped := bytes.Clone(frame)
			flipped[bit/8] ^= 1 << (bit % 8)
			o, _ := NewOpener(s, 0)
			var c collected
			now := time.Now()
			o.Feed(append(flipped, good...), now, c.handle)
			o.Poll(now.Add(time.Hour), c.handle) // a LEN flipped upwards waits until it stalls
			if string(c.plain) != "after" || c.frames != 1 {
				t.Fatalf("%v: bit %d flipped: plaintext %q, want only the next frame's", v, bit, c.plain)
			}
			if len(c.rejected) == 0 && len(c.stray) == 0 {
				t.Fatalf("%v: bit %d flipped: nothing reported", v, bit)
			}
		}
	}
}

// sealRaw seals a frame with the given plaintext but lets the test corrupt
// its body before the FCS is computed, so later checks are reached.
func sealRaw(t *testing.T, s *Secrets, p []byte, corrupt func(body []byte)) []byte {
	t.Helper()
	sealer, _ := NewSealer(s, reader(rand.New(rand.NewPCG(9, 9))), 4096)
	f, _ := sealer.SealFrame(nil, p)
	corrupt(f[HeaderSize : len(f)-TrailerSize])
	putFrame(f)
	return f
}

func TestRejections(t *testing.T) {
	for _, v := range []Version{V1, V2} {
		s := testSecrets(v)
		sealer, _ := NewSealer(s, reader(rand.New(rand.NewPCG(1, 1))), 4096)
		good, _ := sealer.SealFrame(nil, []byte("\r\nOK\r\n"))
		badLen := bytes.Clone(good)
		badLen[1]++ // LEN no longer a valid size
		bigLen := bytes.Clone(good)
		bigLen[1], bigLen[2] = 0x30, 0x01 // LEN 304: valid size, waits for more than follows
		longer := bytes.Clone(good)
		longer[1] += BlockSize // valid size, swallows part of the next frame
		badFCS := bytes.Clone(good)
		badFCS[len(badFCS)-2] ^= 0xFF
		noFlag := bytes.Clone(good)
		noFlag[len(noFlag)-1] = 0x00
		badMAC := sealRaw(t, s, []byte("x"), func(b []byte) { b[len(b)-1] ^= 1 })
		otherKey := testSecrets(v)
		otherKey.Key[0] ^= 1
		if v == V2 {
			otherKey.HMACKey[0] ^= 1
		}
		wrongKey := sealRaw(t, otherKey, []byte("x"), func([]byte) {})
		// A padding error needs an authentic frame with bad padding: only a
		// sealer without the check can make one, so patch the plaintext.
		badPad := badPaddingFrame(t, s)
		for _, tc := range []struct {
			name  string
			frame []byte
			want  error
		}{
			{"LEN not a block size", badLen, ErrLength},
			{"LEN waits past the stream", bigLen, ErrStalled},
			{"LEN swallows the next frame", longer, ErrFCS},
			{"FCS", badFCS, ErrFCS},
			{"closing flag", noFlag, ErrNoFlag},
			{"MAC", badMAC, ErrMAC},
			{"wrong key", wrongKey, ErrMAC},
			{"padding", badPad, ErrPadding},
		} {
			t.Run(v.String()+"/"+tc.name, func(t *testing.T) {
				o, _ := NewOpener(s, 0)
				var c collected
				stream := append(bytes.Clone(tc.frame), good...)
				stream = append(stream, good...)
				feedSplit(o, stream, "whole", nil, c.handle)
				o.Poll(time.Now().Add(time.Hour), c.handle)
				if string(c.plain) != "\r\nOK\r\n\r\nOK\r\n" {
					t.Fatalf("plaintext %q: the good frames behind a bad one must survive", c.plain)
				}
				if len(c.rejected) == 0 || !errors.Is(c.rejected[0], tc.want) {
					t.Fatalf("rejected %v, want first %v", c.rejected, tc.want)
				}
				var fe *FrameError
				if !errors.As(c.rejected[0], &fe) {
					t.Fatalf("%T is not a *FrameError", c.rejected[0])
				}
			})
		}
	}
}

// badPaddingFrame makes an authentic V1/V2 frame whose padding is wrong.
func badPaddingFrame(t *testing.T, s *Secrets) []byte {
	t.Helper()
	c, err := newCodec(s)
	if err != nil {
		t.Fatal(err)
	}
	// Seal 16 bytes with a "pad" that is all zero: seal a full 32-byte block
	// pair, then drop the real pad block so the last byte is 0.
	p := bytes.Repeat([]byte{'A'}, BlockSize-1)
	p = append(p, 0) // last byte 0: invalid pad length
	body := make([]byte, c.bodyLen(len(p)))
	iv := [IVSize]byte{1, 2, 3}
	c.sealBody(body, p, &iv)
	// Rebuild the body over exactly one block (p itself) without padding.
	padded := BlockSize
	var out []byte
	switch s.Version() {
	case V2:
		body = make([]byte, IVSize+padded+MACSize)
		copy(body, iv[:])
		ct := body[IVSize : IVSize+padded]
		copy(ct, p)
		c.enc.(ivSetter).SetIV(iv[:])
		c.enc.CryptBlocks(ct, ct)
		c.mac.Reset()
		c.mac.Write(iv[:])
		c.mac.Write(ct)
		c.mac.Write(c.te[:])
		copy(body[IVSize+padded:], c.mac.Sum(nil))
	default:
		body = make([]byte, padded+DigestSize+IVSize)
		copy(body, p)
		d := sha256Sum(p)
		copy(body[padded:], d[:])
		c.enc.(ivSetter).SetIV(iv[:])
		c.enc.CryptBlocks(body[:padded+DigestSize], body[:padded+DigestSize])
		copy(body[padded+DigestSize:], iv[:])
	}
	out = make([]byte, len(body)+FrameOverhead)
	copy(out[HeaderSize:], body)
	putFrame(out)
	return out
}

func TestStalledFrame(t *testing.T) {
	s := testSecrets(V2)
	sealer, _ := NewSealer(s, reader(rand.New(rand.NewPCG(2, 2))), 4096)
	good, _ := sealer.SealFrame(nil, []byte("\r\nRING\r\n"))
	// A frame whose LEN was corrupted upwards (still a valid size) waits for
	// bytes that never come; the good frame sent after it is inside its span.
	bad := bytes.Clone(good)
	bad[1], bad[2] = 0x00, 0x01 // LEN 256
	o, _ := NewOpener(s, 0)
	o.SetLineRate(115200, 10*time.Millisecond)
	var c collected
	t0 := time.Unix(1000, 0)
	o.Feed(append(bad, good...), t0, c.handle)
	if c.frames != 0 {
		t.Fatalf("a frame came out before the stall: %q", c.plain)
	}
	wait := o.StallTimeout()
	if wait <= 10*time.Millisecond {
		t.Fatalf("stall timeout %v should cover the rest of the frame on the line", wait)
	}
	o.Poll(t0.Add(wait/2), c.handle)
	if c.frames != 0 || len(c.rejected) != 0 {
		t.Fatalf("abandoned too early: %v", c.rejected)
	}
	o.Poll(t0.Add(wait+time.Millisecond), c.handle)
	if string(c.plain) != "\r\nRING\r\n" {
		t.Fatalf("after the stall got %q", c.plain)
	}
	if len(c.rejected) != 1 || !errors.Is(c.rejected[0], ErrStalled) {
		t.Fatalf("rejected %v, want one ErrStalled", c.rejected)
	}
	if len(c.stray) != 0 {
		t.Fatalf("stray %q", c.stray)
	}
}

func TestBoundedBuffer(t *testing.T) {
	s := testSecrets(V2)
	o, _ := NewOpener(s, 0)
	limit := cap(o.buf)
	// A hostile stream: flags with the largest valid LEN, never completed,
	// and long runs without any flag.
	r := rand.New(rand.NewPCG(4, 4))
	hostile := []byte{Flag, 0x30, 0x10} // LEN 4144
	for range 1000 {
		o.Feed(hostile, time.Now(), func(*Event) {})
		o.Feed(randBytes(r, 5000), time.Now(), func(*Event) {})
		if cap(o.buf) != limit || o.Pending() > limit {
			t.Fatalf("buffer grew: cap %d, pending %d, limit %d", cap(o.buf), o.Pending(), limit)
		}
	}
}

func TestLoneFlagAfterFrame(t *testing.T) {
	s := testSecrets(V2)
	sealer, _ := NewSealer(s, reader(rand.New(rand.NewPCG(2, 3))), 255)
	a, _ := sealer.SealFrame(nil, []byte("a"))
	b, _ := sealer.SealFrame(nil, []byte("b"))
	stream := append(append(a, Flag), b...)
	o, _ := NewOpener(s, 0)
	var c collected
	o.Feed(stream, time.Now(), c.handle)
	if string(c.plain) != "ab" || len(c.rejected) != 0 {
		t.Fatalf("plain %q rejected %v", c.plain, c.rejected)
	}
}

func TestSecretsFormatting(t *testing.T) {
	s := testSecrets(V2)
	fp := s.Fingerprint()
	if len(fp) != FingerprintLen || strings.ToLower(fp) != fp {
		t.Fatalf("fingerprint %q", fp)
	}
	type holder struct{ S Secrets }
	for _, out := range []string{
		fmt.Sprintf("%v", s), fmt.Sprintf("%+v", s), fmt.Sprintf("%#v", s), fmt.Sprintf("%s", s),
		fmt.Sprintf("%x", s), fmt.Sprintf("%v", *s), fmt.Sprintf("%+v", holder{*s}), fmt.Sprintf("%#v", holder{*s}),
		fmt.Sprintf("%x", s.Key), fmt.Sprint(s.HMACKey), s.String(),
	} {
		for _, k := range []*Secret{&s.TESecret, &s.Key, &s.HMACKey} {
			for _, needle := range []string{k.Hex(), strings.ToUpper(k.Hex()), string(k[:]), fmt.Sprint([]byte(k[:])), "0x10, 0x11"} {
				if strings.Contains(out, needle) {
					t.Fatalf("formatted secrets %q contain secret bytes %q", out, needle)
				}
			}
		}
	}
	if got := fmt.Sprint(s); !strings.Contains(got, fp) || !strings.Contains(got, "V2") {
		t.Fatalf("%%v of *Secrets = %q, want version and fingerprint", got)
	}
	if testSecrets(V1).Version() != V1 {
		t.Fatal("zero hmac_key must mean V1")
	}
}

func TestParseSecret(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"000102030405060708090a0b0c0d0e0f", true},
		{"000102030405060708090A0B0C0D0E0F", true},
		{"000102030405060708090a0b0c0d0e", false},
		{"000102030405060708090a0b0c0d0e0f00", false},
		{"zz0102030405060708090a0b0c0d0e0f", false},
		{"", false},
	} {
		k, err := ParseSecret(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("ParseSecret(%q): %v", tc.in, err)
			continue
		}
		if err != nil {
			if !errors.Is(err, ErrBadHex) {
				t.Errorf("ParseSecret(%q): %v is not ErrBadHex", tc.in, err)
			}
			if len(tc.in) > 4 && strings.Contains(err.Error(), tc.in) {
				t.Errorf("error repeats the input: %v", err)
			}
			continue
		}
		if !strings.EqualFold(k.Hex(), tc.in) {
			t.Errorf("round trip %q -> %q", tc.in, k.Hex())
		}
	}
}

func TestConfirmation(t *testing.T) {
	s := testSecrets(V2)
	tag := Secret{0xAA, 0xBB, 0xCC}
	h, err := SealConfirmation(s, &tag, reader(rand.New(rand.NewPCG(1, 5))))
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 128 {
		t.Fatalf("confirmation is %d hex characters, want 128", len(h))
	}
	got, err := OpenConfirmation(s, h)
	if err != nil || got != tag {
		t.Fatalf("open: %v, tag equal %v", err, got == tag)
	}
	other := testSecrets(V2)
	other.HMACKey[3] ^= 1
	if _, err := OpenConfirmation(other, h); !errors.Is(err, ErrMAC) {
		t.Fatalf("wrong hmac_key: %v, want ErrMAC", err)
	}
	if _, err := SealConfirmation(testSecrets(V1), &tag, reader(rand.New(rand.NewPCG(1, 5)))); !errors.Is(err, ErrNotV2) {
		t.Fatalf("V1: %v", err)
	}
}

func TestRandomSecrets(t *testing.T) {
	for _, v := range []Version{V1, V2} {
		a, b := RandomSecrets(v), RandomSecrets(v)
		if a.Version() != v {
			t.Errorf("RandomSecrets(%v) speaks %v", v, a.Version())
		}
		if a.TESecret.IsZero() || a.Key.IsZero() || a.TESecret == b.TESecret || a.Key == b.Key {
			t.Errorf("RandomSecrets(%v): zero or repeated secrets", v)
		}
	}
}
