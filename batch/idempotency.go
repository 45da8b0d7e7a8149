package batch

import (
	"container/list"
	"context"
	"crypto/sha256"
	"errors"
	"sync"
	"time"
)

// ErrKeyInProgress is returned by [IdempotencyStore.Begin] when a request
// with the same key and fingerprint is still running. A [BulkHandler]
// answers 409.
var ErrKeyInProgress = errors.New("batch: idempotency key in use by a request still running")

// ErrKeyReused is returned by [IdempotencyStore.Begin] when the key was used
// for a request with a different fingerprint (another method, path, query
// or body). A [BulkHandler] answers 422.
var ErrKeyReused = errors.New("batch: idempotency key already used for a different request")

// Fingerprint identifies the request an idempotency key was used for: a
// SHA-256 of its method, path (as sent, escaped), raw query and body. A
// request that differs in any of them, such as the same body with
// ?dry_run=1, is another request.
type Fingerprint [sha256.Size]byte

// StoredResponse is a response kept for replay under an idempotency key.
type StoredResponse struct {
	// Status is the HTTP status to replay.
	Status int
	// ContentType is the Content-Type header to replay.
	ContentType string
	// Body is the response body to replay, byte for byte.
	Body []byte
}

// IdempotencyStore keeps responses by Idempotency-Key for a [BulkHandler].
// Keys arrive already scoped (see BulkOptions.IdempotencyScope).
// Implementations must be safe for concurrent use; a shared store (a
// database, Redis) makes keys work across instances.
type IdempotencyStore interface {
	// Begin claims key for a request with fingerprint fp. It returns
	// (nil, nil) when the key is new and now claimed; the stored response
	// when the key completed with the same fingerprint; [ErrKeyReused]
	// when the key was used with another fingerprint; [ErrKeyInProgress]
	// when the key is claimed and not yet completed. Any other error is
	// answered 503.
	Begin(ctx context.Context, key string, fp Fingerprint) (*StoredResponse, error)

	// Complete stores the response of a claimed key for later replay and
	// releases the claim. The store may keep the response for a limited
	// time and evict it early under memory pressure.
	Complete(ctx context.Context, key string, fp Fingerprint, resp *StoredResponse) error

	// Abort releases a claim without storing a response, so a retry runs
	// the request again.
	Abort(ctx context.Context, key string, fp Fingerprint) error
}

// Defaults of [MemoryStoreOptions].
const (
	// DefaultIdempotencyTTL is the default of MemoryStoreOptions.TTL.
	DefaultIdempotencyTTL = 24 * time.Hour
	// DefaultMaxEntries is the default of MemoryStoreOptions.MaxEntries.
	DefaultMaxEntries = 10000
	// DefaultMaxStoreBytes is the default of MemoryStoreOptions.MaxBytes:
	// 64 MiB.
	DefaultMaxStoreBytes = 64 << 20
)

// MemoryStoreOptions configure a [MemoryStore]. Nil options are valid and
// mean the defaults; [NewMemoryStore] copies them.
type MemoryStoreOptions struct {
	// TTL is how long a key is remembered after its request completed;
	// a claim that is never completed or aborted is dropped after the
	// same time. Zero: [DefaultIdempotencyTTL] (24h). Negative is an
	// error.
	TTL time.Duration

	// MaxEntries is the most completed keys kept; beyond it the oldest are
	// forgotten first. Zero: [DefaultMaxEntries] (10000). Negative is an
	// error.
	MaxEntries int

	// MaxBytes bounds the sum of the stored bodies; beyond it the oldest
	// keys are forgotten first. Zero: [DefaultMaxStoreBytes] (64 MiB).
	// Negative is an error.
	MaxBytes int64
}

// MemoryStore is an [IdempotencyStore] in process memory, bounded by count,
// bytes and age. It starts no goroutines: expired keys are dropped as the
// store is used. Keys do not survive a restart and are not shared between
// instances. A MemoryStore is safe for concurrent use.
type MemoryStore struct {
	opts MemoryStoreOptions
	now  func() time.Time // for tests; nil means time.Now

	mu      sync.Mutex           // protects everything below
	entries map[string]*memEntry // claimed and completed keys
	order   list.List            // of *memEntry, oldest first
	bytes   int64                // sum of stored bodies
	done    int                  // completed entries
}

type memEntry struct {
	key     string
	fp      Fingerprint
	resp    *StoredResponse // nil while claimed
	expires time.Time
	elem    *list.Element
}

// NewMemoryStore returns an empty store. Nil options are the defaults.
func NewMemoryStore(opts *MemoryStoreOptions) (*MemoryStore, error) {
	var c MemoryStoreOptions
	if opts != nil {
		c = *opts
	}
	if c.TTL < 0 || c.MaxEntries < 0 || c.MaxBytes < 0 {
		return nil, errors.New("batch: NewMemoryStore: TTL, MaxEntries and MaxBytes must not be negative")
	}
	if c.TTL == 0 {
		c.TTL = DefaultIdempotencyTTL
	}
	if c.MaxEntries == 0 {
		c.MaxEntries = DefaultMaxEntries
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = DefaultMaxStoreBytes
	}
	return &MemoryStore{opts: c, entries: make(map[string]*memEntry)}, nil
}

func (s *MemoryStore) clock() time.Time {
	if s.now != nil {
		return s.now()
	}
	return time.Now()
}

// Begin implements [IdempotencyStore].
func (s *MemoryStore) Begin(_ context.Context, key string, fp Fingerprint) (*StoredResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock()
	s.expireLocked(now)
	if e, ok := s.entries[key]; ok {
		switch {
		case e.fp != fp:
			return nil, ErrKeyReused
		case e.resp == nil:
			return nil, ErrKeyInProgress
		default:
			r := *e.resp
			return &r, nil
		}
	}
	e := &memEntry{key: key, fp: fp, expires: now.Add(s.opts.TTL)}
	e.elem = s.order.PushBack(e)
	s.entries[key] = e
	return nil, nil
}

// Complete implements [IdempotencyStore]. A response larger than MaxBytes
// is not kept: the key is released instead.
func (s *MemoryStore) Complete(_ context.Context, key string, fp Fingerprint, resp *StoredResponse) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[key]
	if !ok || e.fp != fp || e.resp != nil {
		return nil // expired meanwhile, or not this request's claim
	}
	size := int64(len(resp.Body))
	if size > s.opts.MaxBytes {
		s.removeLocked(e)
		return nil
	}
	stored := *resp
	stored.Body = append([]byte(nil), resp.Body...)
	e.resp = &stored
	e.expires = s.clock().Add(s.opts.TTL)
	s.order.MoveToBack(e.elem)
	s.bytes += size
	s.done++
	for s.done > s.opts.MaxEntries || s.bytes > s.opts.MaxBytes {
		if !s.evictOldestLocked() {
			break
		}
	}
	return nil
}

// Abort implements [IdempotencyStore].
func (s *MemoryStore) Abort(_ context.Context, key string, fp Fingerprint) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.entries[key]; ok && e.fp == fp && e.resp == nil {
		s.removeLocked(e)
	}
	return nil
}

// Len returns the number of keys held, claimed or completed. Safe for
// concurrent use.
func (s *MemoryStore) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.entries)
}

// expireLocked drops entries whose time is up. Entries are in expiry order
// because every entry's expiry is set to now+TTL when it moves to the back.
func (s *MemoryStore) expireLocked(now time.Time) {
	for el := s.order.Front(); el != nil; el = s.order.Front() {
		e := el.Value.(*memEntry)
		if now.Before(e.expires) {
			return
		}
		s.removeLocked(e)
	}
}

// evictOldestLocked drops the oldest completed entry; claims are never
// evicted, since their requests are running.
func (s *MemoryStore) evictOldestLocked() bool {
	for el := s.order.Front(); el != nil; el = el.Next() {
		if e := el.Value.(*memEntry); e.resp != nil {
			s.removeLocked(e)
			return true
		}
	}
	return false
}

func (s *MemoryStore) removeLocked(e *memEntry) {
	s.order.Remove(e.elem)
	delete(s.entries, e.key)
	if e.resp != nil {
		s.bytes -= int64(len(e.resp.Body))
		s.done--
	}
}
