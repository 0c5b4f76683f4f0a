// Package sharedfile opens files for reading as os.Open does, except that
// on Windows other processes may still rename or delete a file while it
// is open here, as they may on Unix. os.Open on Windows leaves out
// FILE_SHARE_DELETE, so a reader that has a file open makes another
// process's rename or delete of it fail with a sharing violation.
//
// `sluice logs tail -f` (app/logs' Tail and Follow) opens the logs with
// it: the app rotates them by renaming the file the follower holds open,
// and the follower compares files by identity (os.SameFile) through Stat.
// (Replacing a file by renaming another over it still fails on Windows
// while the file is open, shared or not: the system proxy state file is
// read under its lock instead.)
package sharedfile

import (
	"io"
	"os"
)

// ReadFile reads the whole file, as os.ReadFile does, with the file open
// as Open opens it.
func ReadFile(name string) ([]byte, error) {
	f, err := Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// Stat returns the file's FileInfo read through a handle opened as Open
// opens it. Use it, not os.Stat, for a FileInfo that goes to os.SameFile:
// on Windows, os.SameFile reads the identity of an os.Stat result by
// opening the file again then, sharing nothing, which makes a rename or
// delete of it by another process fail at that instant.
func Stat(name string) (os.FileInfo, error) {
	f, err := Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Stat()
}
