// Package refproxy is a reference forward proxy of about a hundred lines on
// valyala/fasthttp: its server with StreamRequestBody and one pooled
// HostClient per origin with StreamResponseBody, plus a plain CONNECT
// tunnel. It is the "fasthttp approach" column of the load-test table, so
// Sluice's own relay can be compared with what the library gives for
// little code. It is a benchmark reference, not a product: it skips most
// of what a correct proxy must do (Via, every hop-by-hop rule, limits,
// error pages) and must not be used by Sluice's packages.
package refproxy
