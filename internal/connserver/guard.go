package connserver

// Guard runs f, a call of a user callback, and reports whether it
// returned. If f panics or calls runtime.Goexit, failed runs first, on
// this goroutine with the panic's stack still in place, with the panic
// value (nil and goexit true for a Goexit); then a panic is recovered and
// Guard returns false, while a Goexit cannot be stopped and goes on ending
// the goroutine, running its callers' deferred calls.
func Guard(f func(), failed func(v any, goexit bool)) (ok bool) {
	defer func() {
		if !ok {
			v := recover() // nil only for a Goexit: panic(nil) is a *runtime.PanicNilError
			failed(v, v == nil)
		}
	}()
	f()
	return true
}

// Call runs f, a user callback that must not end the calling goroutine
// (it holds a request, a fan-out, a clock): f runs on a goroutine of its
// own, so a runtime.Goexit ends that one. A panic or Goexit is counted in
// CallbackPanics and Call returns false.
func (s *Server[C, M]) Call(f func()) (ok bool) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		ok = Guard(f, s.countFailed)
	}()
	<-done
	return ok
}

// Recover runs f, a user callback, on this goroutine: a panic is
// recovered, and a panic or runtime.Goexit is counted in CallbackPanics; a
// Goexit goes on ending the goroutine (its callers' deferred calls run).
func (s *Server[C, M]) Recover(f func()) (ok bool) { return Guard(f, s.countFailed) }

func (s *Server[C, M]) countFailed(any, bool) { s.Counters.CallbackPanics.Add(1) }
