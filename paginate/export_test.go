package paginate

// SealBody returns a token of body (the payload after the version byte:
// flags, scope hash, expiry, values) in the encrypted form when encrypt,
// else the signed form, so fuzzing reaches the payload decoder behind the
// authentication of both forms.
func SealBody(s *Signer, body []byte, encrypt bool) []byte {
	if encrypt {
		return s.seal(body)
	}
	return s.signBody(body)
}
