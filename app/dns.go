package app

import (
	"fmt"
	"net"
	"strings"
)

// validateDNSServer checks one [dns] servers entry.
// TODO(lead): delegate to resolver.ValidateServer once the resolver lands.
func validateDNSServer(s string) error {
	switch {
	case s == "system", strings.HasPrefix(s, "tls://"), strings.HasPrefix(s, "https://"):
		return nil
	}
	if _, _, err := net.SplitHostPort(s); err != nil {
		return fmt.Errorf("%q is not \"system\", host:port, tls://host:853 or https://host/dns-query", s)
	}
	return nil
}
