package sse

// Writers returns how many stream writer goroutines are running.
func (s *Server) Writers() int64 { return s.writers.Load() }
