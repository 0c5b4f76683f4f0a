package logs

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"
)

// Config is the [log] section, resolved by the caller. The zero value of
// each field other than Dir means its documented default.
type Config struct {
	// Dir is the directory holding app.log, access.log and their backups.
	// It is created if missing. Required.
	Dir string
	// Level is the least severe app log record written. Zero is Info.
	Level slog.Level
	// Format is "json" or "text" for both streams. Empty means json.
	Format string
	// AccessLog turns the access log on. Off, Access returns nil and no
	// access.log is written.
	AccessLog bool
	// MaxSizeMB rotates a file when it would grow past this many
	// megabytes. Zero means lumberjack's default, 100.
	MaxSizeMB int
	// MaxBackups is how many rotated files to keep per stream. Zero
	// keeps all (subject to MaxAgeDays).
	MaxBackups int
	// MaxAgeDays deletes rotated files older than this many days. Zero
	// keeps them regardless of age.
	MaxAgeDays int
	// Compress gzips rotated files.
	Compress bool
	// Stderr, if not nil, also receives every app log record (headless
	// mode). It is written by the app log's writer goroutine, never by
	// the caller.
	Stderr io.Writer
	// QueueSize is how many records each stream's queue holds before it
	// drops. Zero means 4096.
	QueueSize int
	// FlushEvery is the longest a record waits in the writer's buffer.
	// Zero means 100ms.
	FlushEvery time.Duration
	// FlushRecords writes the buffer once it holds this many records.
	// Zero means 100.
	FlushRecords int
	// Sink, if not nil, is given each stream's file ("app.log" or
	// "access.log") and returns the writer to use instead, for tests (a
	// writer that blocks, fails or counts). Nil writes to the file.
	Sink func(name string, file io.Writer) io.Writer
}

// Defaults used where a Config field is zero.
const (
	DefaultQueueSize    = 4096
	DefaultFlushEvery   = 100 * time.Millisecond
	DefaultFlushRecords = 100
)

// File names in the log dir. Lumberjack names backups after them with
// the rotation time in UTC: access-2006-01-02T15-04-05.000.log.
const (
	AppFile    = "app.log"
	AccessFile = "access.log"
)

// ErrNeedsRestart is wrapped by Reconfigure when a changed setting only
// takes effect when the Logs are made anew.
var ErrNeedsRestart = errors.New("takes effect on restart")

func (c Config) withDefaults() (Config, error) {
	if c.Dir == "" {
		return c, errors.New("log dir is not set")
	}
	switch c.Format {
	case "":
		c.Format = "json"
	case "json", "text":
	default:
		return c, fmt.Errorf("log format %q is not json or text", c.Format)
	}
	if c.QueueSize <= 0 {
		c.QueueSize = DefaultQueueSize
	}
	if c.FlushEvery <= 0 {
		c.FlushEvery = DefaultFlushEvery
	}
	if c.FlushRecords <= 0 {
		c.FlushRecords = DefaultFlushRecords
	}
	return c, nil
}
