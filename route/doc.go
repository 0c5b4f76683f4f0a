// Package route decides how each request leaves Sluice: straight to its
// origin, through an upstream proxy (one of a group, by a strategy), or
// not at all. It implements proxy.Router; the relay (package proxy)
// carries the decision out and fills the upstreams' counters.
//
// It owns: the [route], [[upstream]], [[group]] and [[rule]] config once
// decoded (New checks names, URLs, strategies and match entries and
// compiles the rules), the mode and select choices and the state file
// they persist in, the upstreams' health checks (background goroutines
// that fetch a check URL through each parent, over the caller's dialer),
// and the PAC file made from the rules.
//
// It must not touch: config files, the proxy's connections or pools, or
// package app. Route, on the hot path, reads only what New built and
// atomics: no lock, no I/O, no allocation (see BenchmarkRoute).
//
// Files, one concern each:
//
//	config.go   Config and its tables, Error
//	router.go   New, Route, modes, select, state loading
//	rules.go    the rule kinds and the compiled matcher
//	domain.go   domain and domain-suffix: a map walk over the labels
//	keyword.go  domain-keyword: an Aho–Corasick automaton
//	addr.go     IP literals parsed without allocating
//	upstream.go upstream URLs, credentials
//	group.go    upstream health state and the group strategies
//	health.go   the health checks
//	state.go    the state file
//	status.go   Decide (route test), and the status the app reports
//	pac.go      the PAC file
package route
