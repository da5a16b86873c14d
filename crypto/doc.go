// Package crypto is the C2C frame codec of the u-blox SARA-R5 local
// chip-to-chip security, and the secrets it runs on.
//
// A session between the host and the module carries every byte inside
// frames:
//
//	F9 | LEN (2, little endian) | BODY (LEN bytes) | FCS (2, little endian) | F9
//
// The body is AES-128-CBC encrypted and authenticated: by a truncated
// HMAC-SHA-256 in version 2, by a SHA-256 of the padded plaintext encrypted
// with it in version 1. The version follows from the secrets: a non-zero
// hmac_key means V2 (docs/protocol.md, "Secrets and versions" and
// "Frame format").
//
// A Sealer turns plaintext into frames, appending into the caller's buffer.
// An Opener is fed bytes as they come from a UART, in any split, and calls
// back with an Event for every authentic frame's plaintext, every rejected
// frame and every run of bytes outside a frame. It never hands out a byte
// that failed authentication.
//
// The package is named crypto, as the project layout asks; a file that also
// needs the standard library's crypto package imports that under an alias.
package crypto
