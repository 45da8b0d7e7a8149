package upload

import "time"

// SetSignerClock replaces the signer's clock, for expiry tests.
func SetSignerClock(s *Signer, now func() time.Time) { s.now = now }
