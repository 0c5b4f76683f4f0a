package sharedfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// A rename of the file, as a log rotation does, and a delete succeed
// while the file is open, and the reader goes on reading what it opened.
func TestRenameAndRemoveWhileOpen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	backup := filepath.Join(dir, "access-1.log")
	if err := os.Rename(path, backup); err != nil {
		t.Fatalf("rename a file open for reading: %v", err)
	}
	if err := os.WriteFile(path, []byte("new"), 0o600); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 3)
	if _, err := f.ReadAt(buf, 0); err != nil || string(buf) != "old" {
		t.Fatalf("the open file reads %q, %v; want \"old\"", buf, err)
	}
	if got, err := ReadFile(path); err != nil || string(got) != "new" {
		t.Fatalf("ReadFile after the rename: %q, %v; want \"new\"", got, err)
	}
	if err := os.Remove(backup); err != nil {
		t.Fatalf("remove a file open for reading: %v", err)
	}
}

func TestMissingFileIsNotExist(t *testing.T) {
	_, err := ReadFile(filepath.Join(t.TempDir(), "missing"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("ReadFile of a missing file = %v, want fs.ErrNotExist", err)
	}
	var pe *fs.PathError
	if !errors.As(err, &pe) || pe.Op != "open" {
		t.Fatalf("error %v is not an open *fs.PathError", err)
	}
}
