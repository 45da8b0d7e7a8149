package connserver

import (
	"net"
	"net/http"
	"net/url"
	"path"
	"strings"
)

// RemoteIP is the default client IP: the host part of Request.RemoteAddr.
func RemoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// ClientIP returns the client address counted against MaxConnsPerIP: the
// Config.ClientIP hook's, or RemoteIP. false means the hook panicked or
// called runtime.Goexit (counted in CallbackPanics); the caller answers 500.
func (s *Server[C, M]) ClientIP(r *http.Request) (ip string, ok bool) {
	if s.cfg.ClientIP == nil {
		return RemoteIP(r), true
	}
	ok = s.Call(func() { ip = s.cfg.ClientIP(r) })
	return ip, ok
}

// CheckOrigin applies the origin policy to r: a request without Origin
// (not a browser) and a same-origin one are allowed, a cross-origin one
// only when its host (or scheme://host, for a pattern with "://") matches
// one of Config.OriginPatterns. A refused request is answered with 403
// (the body does not echo the origin) and counted in RejectedOrigin.
// cross reports an allowed cross-origin request (sse adds CORS headers).
func (s *Server[C, M]) CheckOrigin(w http.ResponseWriter, r *http.Request) (ok, cross bool) {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true, false
	}
	if ok, cross = s.originAllowed(origin, r.Host); !ok {
		s.Counters.RejectedOrigin.Add(1)
		http.Error(w, s.cfg.Pkg+": cross-origin request not allowed; add the page's host to OriginPatterns", http.StatusForbidden)
	}
	return ok, cross
}

func (s *Server[C, M]) originAllowed(origin, host string) (ok, cross bool) {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false, true
	}
	if strings.EqualFold(u.Host, host) {
		return true, false
	}
	for _, p := range s.cfg.OriginPatterns {
		target := u.Host
		if strings.Contains(p, "://") {
			target = u.Scheme + "://" + u.Host
		}
		if m, _ := path.Match(strings.ToLower(p), strings.ToLower(target)); m {
			return true, true
		}
	}
	return false, true
}

// Refuse answers a request the limits or a shutdown refused: 503 with
// Retry-After, counted in RejectedLimit.
func (s *Server[C, M]) Refuse(w http.ResponseWriter) {
	s.Counters.RejectedLimit.Add(1)
	w.Header().Set("Retry-After", s.retryAfter)
	http.Error(w, s.cfg.Pkg+": too many connections; retry later", http.StatusServiceUnavailable)
}

// RetryAfter is the Retry-After value, in whole seconds, sent with a 503.
func (s *Server[C, M]) RetryAfter() string { return s.retryAfter }

// Reserve counts a connection from ip against the limits; false when over
// one or closing. A reservation is released by Release, or by
// RemoveLocked once the connection was added.
func (s *Server[C, M]) Reserve(ip string) bool {
	s.Mu.Lock()
	defer s.Mu.Unlock()
	if s.closing {
		return false
	}
	if s.cfg.MaxConns > 0 && s.active >= s.cfg.MaxConns {
		return false
	}
	if s.cfg.MaxConnsPerIP > 0 && s.perIP[ip] >= s.cfg.MaxConnsPerIP {
		return false
	}
	s.perIP[ip]++
	s.active++
	return true
}

// Release gives back a reservation that did not become a connection.
func (s *Server[C, M]) Release(ip string) {
	s.Mu.Lock()
	defer s.Mu.Unlock()
	s.releaseLocked(ip)
}

func (s *Server[C, M]) releaseLocked(ip string) {
	s.active--
	if s.perIP[ip] <= 1 {
		delete(s.perIP, ip)
	} else {
		s.perIP[ip]--
	}
}

// Admit reserves a connection for r's client, or answers: 500 when the
// ClientIP hook failed, 503 with Retry-After at a limit or while closing.
// The reservation is the caller's to release (Release, or RemoveLocked
// once the connection was added).
func (s *Server[C, M]) Admit(w http.ResponseWriter, r *http.Request) (ip string, ok bool) {
	ip, ok = s.ClientIP(r)
	if !ok {
		http.Error(w, s.cfg.Pkg+": internal error", http.StatusInternalServerError)
		return "", false
	}
	if !s.Reserve(ip) {
		s.Refuse(w)
		return "", false
	}
	return ip, true
}
