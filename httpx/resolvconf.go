// The system resolver configuration Resolver reads when it has no
// Servers: resolv.conf and the hosts file.

package httpx

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// resolvConf is what NewResolver uses from resolv.conf.
type resolvConf struct {
	servers []string
	ndots   int
	search  bool
}

func readResolvConf(path string) (resolvConf, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return resolvConf{ndots: 1}, nil
	}
	if err != nil {
		return resolvConf{}, fmt.Errorf("httpx: read resolver configuration: %w", err)
	}
	return parseResolvConf(string(data)), nil
}

// parseResolvConf reads nameserver, search, domain and options ndots:n.
func parseResolvConf(s string) resolvConf {
	c := resolvConf{ndots: 1}
	for line := range strings.Lines(s) {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") || strings.HasPrefix(f[0], ";") {
			continue
		}
		switch f[0] {
		case "nameserver":
			if len(f) > 1 {
				if ip, err := netip.ParseAddr(f[1]); err == nil {
					c.servers = append(c.servers, netip.AddrPortFrom(ip, 53).String())
				}
			}
		case "search", "domain":
			c.search = len(f) > 1
		case "options":
			for _, o := range f[1:] {
				if v, ok := strings.CutPrefix(o, "ndots:"); ok {
					if n, err := strconv.Atoi(v); err == nil && n >= 0 {
						c.ndots = min(n, 15)
					}
				}
			}
		}
	}
	return c
}

// readHostsNames returns the lower-cased names a hosts file maps.
func readHostsNames(path string) (map[string]bool, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("httpx: read hosts file: %w", err)
	}
	names := map[string]bool{}
	for line := range strings.Lines(string(data)) {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		for _, n := range f[1:] {
			names[strings.ToLower(strings.TrimSuffix(n, "."))] = true
		}
	}
	return names, nil
}
