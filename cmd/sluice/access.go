package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/term"
)

// cmdAccess implements `sluice access hash-password`.
func cmdAccess(args []string) error {
	if len(args) == 0 || args[0] != "hash-password" {
		return errors.New("access needs: hash-password")
	}
	fs := newFlags("access hash-password")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: sluice access hash-password < password\n\n"+
			"Reads a password from stdin (without echo on a terminal) and prints its\n"+
			"bcrypt hash, for [access.users] in config.toml: NAME = \"HASH\".\n")
	}
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("hash-password takes no arguments (the password is read from stdin, so it stays out of the shell history)")
	}
	var password []byte
	var err error
	if fd := int(os.Stdin.Fd()); term.IsTerminal(fd) {
		password, err = promptPassword(fd)
	} else {
		password, err = readPassword(os.Stdin)
	}
	if err != nil {
		return err
	}
	hash, err := hashPassword(password)
	if err != nil {
		return err
	}
	fmt.Println(hash)
	return nil
}

// promptPassword asks for the password twice on the terminal, without
// echo.
func promptPassword(fd int) ([]byte, error) {
	fmt.Fprint(os.Stderr, "Password: ")
	p, err := term.ReadPassword(fd)
	fmt.Fprintln(os.Stderr)
	if err != nil {
		return nil, fmt.Errorf("read the password: %w", err)
	}
	fmt.Fprint(os.Stderr, "Again: ")
	again, err := term.ReadPassword(fd)
	fmt.Fprintln(os.Stderr)
	if err != nil {
		return nil, fmt.Errorf("read the password: %w", err)
	}
	if !bytes.Equal(p, again) {
		return nil, errors.New("the two passwords differ")
	}
	return p, nil
}

// readPassword reads the first line of r, without its line ending.
func readPassword(r io.Reader) ([]byte, error) {
	line, err := bufio.NewReader(r).ReadBytes('\n')
	if err != nil && err != io.EOF {
		return nil, fmt.Errorf("read the password from stdin: %w", err)
	}
	return bytes.TrimRight(line, "\r\n"), nil
}

// hashPassword returns the bcrypt hash of password at the default cost.
func hashPassword(password []byte) (string, error) {
	switch {
	case len(password) == 0:
		return "", errors.New("the password is empty")
	case len(password) > 72:
		// bcrypt ignores what comes after 72 bytes; refuse rather than
		// let the rest pretend to matter.
		return "", fmt.Errorf("the password is %d bytes; bcrypt uses at most 72", len(password))
	}
	h, err := bcrypt.GenerateFromPassword(password, bcrypt.DefaultCost)
	if err != nil {
		return "", fmt.Errorf("hash the password: %w", err)
	}
	return string(h), nil
}
