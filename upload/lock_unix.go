//go:build unix

package upload

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
)

// Lock implements [Locker] with flock(2) on the upload's lock file: the
// kernel releases it when the holder's process dies.
func (u *diskUpload) Lock(context.Context) (func(), error) {
	f, err := os.OpenFile(u.s.path(u.id, ".lock"), os.O_RDWR, 0)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, ErrNotFound
		}
		return nil, fmt.Errorf("upload: open lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, ErrLocked
		}
		return nil, fmt.Errorf("upload: lock: %w", err)
	}
	return func() { f.Close() }, nil
}
