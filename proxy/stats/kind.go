package stats

// ErrKind classifies why a request or tunnel failed. The zero value means
// it did not fail. Kinds are stable names used in logs and metrics labels.
type ErrKind uint8

// The error kinds, one per distinct answer the proxy gives.
const (
	ErrNone            ErrKind = iota
	ErrBadRequest              // malformed request from the client (400)
	ErrForbidden               // client, CONNECT port, destination or local endpoint not allowed (403, 421)
	ErrLoop                    // request addressed to Sluice itself (508)
	ErrTooLarge                // header or body over a limit (413, 431)
	ErrDNS                     // name did not resolve (502)
	ErrRefused                 // upstream refused or unreachable (502)
	ErrConnectTimeout          // upstream connect timed out (504)
	ErrUpstreamTimeout         // upstream response head timed out (504), or the upstream stalled a body or a tunnel
	ErrUpstream                // upstream reset or broke the protocol (502)
	ErrClientAbort             // the client went away mid-transfer
	ErrOverload                // max_concurrent reached (503)
	ErrClientTimeout           // client too slow sending its request head (408), or it stalled a body or a tunnel
	ErrAuth                    // proxy credentials missing or wrong (407)
	ErrRateLimited             // client over its [access] rate_limit (429)

	// NumErrKinds is the number of kinds, for arrays indexed by kind.
	NumErrKinds
)

var errKindNames = [NumErrKinds]string{
	ErrNone:            "none",
	ErrBadRequest:      "bad_request",
	ErrForbidden:       "forbidden",
	ErrLoop:            "loop",
	ErrTooLarge:        "too_large",
	ErrDNS:             "dns",
	ErrRefused:         "refused",
	ErrConnectTimeout:  "connect_timeout",
	ErrUpstreamTimeout: "upstream_timeout",
	ErrUpstream:        "upstream",
	ErrClientAbort:     "client_abort",
	ErrOverload:        "overload",
	ErrClientTimeout:   "client_timeout",
	ErrAuth:            "auth",
	ErrRateLimited:     "rate_limited",
}

// String returns the kind's stable name, as used in logs and metric labels.
func (k ErrKind) String() string {
	if k < NumErrKinds {
		return errKindNames[k]
	}
	return "unknown"
}
