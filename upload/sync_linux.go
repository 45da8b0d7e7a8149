package upload

import (
	"os"
	"syscall"
)

// writebackEvery is how many bytes a chunk writes between asking the
// kernel to start writing them out, so that the fsync that acknowledges
// the chunk waits for little more than the last stretch.
const writebackEvery = 8 << 20

// startWriteback starts the asynchronous writeback of [off, off+n) of f
// (sync_file_range(2) with SYNC_FILE_RANGE_WRITE); it does not wait and
// promises nothing: durability comes from datasync.
func startWriteback(f *os.File, off, n int64) {
	_ = syscall.SyncFileRange(int(f.Fd()), off, n, 0x2 /* SYNC_FILE_RANGE_WRITE */)
}

// datasync makes f's data (and its size) durable.
func datasync(f *os.File) error { return syscall.Fdatasync(int(f.Fd())) }
