//go:build !windows

package sharedfile

import "os"

// Open opens the file name for reading: os.Open, since Unix never stops
// a rename or delete of an open file.
func Open(name string) (*os.File, error) { return os.Open(name) }
