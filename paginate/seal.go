package paginate

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
)

// The encrypted form of a cursor is
//
//	version (2) | salt (16 random bytes) | AES-256-GCM(body) with its tag
//
// with the version byte as additional data. Each token is sealed under its
// own key, HMAC-SHA256(encKey, salt), with a zero nonce: a key is never
// used twice (salts collide after about 2^64 tokens), where a random
// 96-bit GCM nonce under one key would risk reuse, and the forgeries it
// allows, after some 2^32 tokens, which a busy service signs in days.
const (
	saltLen = 16
	tagLen  = 16
)

// encKeyInfo separates the encryption keys from the HMAC use of the same
// signing keys.
const encKeyInfo = "wirespeed/paginate cursor encryption v2"

// deriveEncKey returns the AES-256 master key of a signing key.
func deriveEncKey(signingKey []byte) []byte {
	k, err := hkdf.Key(sha256.New, signingKey, nil, encKeyInfo, 32)
	if err != nil {
		panic("paginate: hkdf: " + err.Error()) // only for lengths over 255*32
	}
	return k
}

// tokenAEAD returns the AEAD of the token with this salt under encKey.
func tokenAEAD(encKey, salt []byte) cipher.AEAD {
	m := hmac.New(sha256.New, encKey)
	m.Write(salt)
	block, err := aes.NewCipher(m.Sum(nil))
	if err != nil {
		panic("paginate: aes: " + err.Error()) // the key is always 32 bytes
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic("paginate: gcm: " + err.Error())
	}
	return aead
}

var zeroNonce [12]byte

// seal returns the encrypted form of body under the first key.
func (s *Signer) seal(body []byte) []byte {
	raw := make([]byte, 1+saltLen, 1+saltLen+len(body)+tagLen)
	raw[0] = versionEncrypted
	rand.Read(raw[1 : 1+saltLen])
	aad := raw[:1]
	return tokenAEAD(s.encKeys[0], raw[1:1+saltLen]).Seal(raw, zeroNonce[:], body, aad)
}

// open returns the body of an encrypted token that one of the keys
// authenticates, or nil.
func (s *Signer) open(raw []byte) []byte {
	if len(raw) < 1+saltLen+tagLen {
		return nil
	}
	salt, ct := raw[1:1+saltLen], raw[1+saltLen:]
	for _, k := range s.encKeys {
		if body, err := tokenAEAD(k, salt).Open(nil, zeroNonce[:], ct, raw[:1]); err == nil {
			return body
		}
	}
	return nil
}
