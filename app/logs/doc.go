// Package logs writes Sluice's two log streams, the app log (lifecycle,
// warnings, errors, through log/slog) and the access log (one record per
// request or tunnel), each to its own file rotated by lumberjack:
// app.log and access.log in the log dir.
//
// Logging never slows a request. Callers hand a record to a bounded
// in-memory queue and return; one writer goroutine per stream formats
// records into a buffer and writes it in batches (every FlushRecords
// records or FlushEvery, whichever comes first). When a queue is full the
// record is dropped and counted, and once the writer catches up it writes
// one line saying how many were dropped. Close drains both queues, so a
// clean shutdown loses nothing.
//
// The package owns the log files, their format and their rotation, so it
// also reads them back (tail.go: Tail and Follow, which know how rotated
// backups are named). It does not choose the log dir (app does, from
// [log] dir or the OS default) and does not import app.
package logs
