package crypto

// FCS computation: the 16-bit frame check sequence of RFC 1662
// (CRC-16/X-25: reflected polynomial 0x8408, initial value 0xFFFF, final
// complement). A byte-at-a-time table costs more per frame than AES or HMAC,
// so it runs sixteen bytes per step with sixteen derived tables
// ("slicing-by-16", 8 KiB of tables).

const (
	fcsPoly    = 0x8408
	fcsInit    = 0xFFFF
	fcsXorOut  = 0xFFFF
	fcsSlicing = 16
)

var fcsTable = makeFCSTable()

func makeFCSTable() (t [fcsSlicing][256]uint16) {
	for i := range 256 {
		c := uint16(i)
		for range 8 {
			if c&1 != 0 {
				c = c>>1 ^ fcsPoly
			} else {
				c >>= 1
			}
		}
		t[0][i] = c
	}
	for k := 1; k < fcsSlicing; k++ {
		for i := range 256 {
			c := t[k-1][i]
			t[k][i] = c>>8 ^ t[0][c&0xFF]
		}
	}
	return t
}

// FCS returns the RFC 1662 frame check sequence of p. The check value of
// the ASCII string "123456789" is 0x906E.
func FCS(p []byte) uint16 {
	return fcsUpdate(fcsInit, p) ^ fcsXorOut
}

func fcsUpdate(crc uint16, p []byte) uint16 {
	t := &fcsTable
	for len(p) >= fcsSlicing {
		q := p[:fcsSlicing]
		crc ^= uint16(q[0]) | uint16(q[1])<<8
		crc = t[15][crc&0xFF] ^ t[14][crc>>8] ^
			t[13][q[2]] ^ t[12][q[3]] ^ t[11][q[4]] ^ t[10][q[5]] ^
			t[9][q[6]] ^ t[8][q[7]] ^ t[7][q[8]] ^ t[6][q[9]] ^
			t[5][q[10]] ^ t[4][q[11]] ^ t[3][q[12]] ^ t[2][q[13]] ^
			t[1][q[14]] ^ t[0][q[15]]
		p = p[fcsSlicing:]
	}
	for _, b := range p {
		crc = crc>>8 ^ t[0][byte(crc)^b]
	}
	return crc
}
