//go:build !unix

package upload

import "context"

// Lock implements [Locker]; without flock(2) only the [Handler]'s
// in-process lock applies.
func (u *diskUpload) Lock(context.Context) (func(), error) { return func() {}, nil }
