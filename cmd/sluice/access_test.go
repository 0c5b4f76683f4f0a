package main

import (
	"io"
	"os"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// runWithStdin runs `sluice access ARGS` with stdin from a pipe fed with
// input, and returns what it printed on stdout.
func runWithStdin(t *testing.T, input string, args ...string) (string, error) {
	t.Helper()
	inR, inW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	oldIn, oldOut := os.Stdin, os.Stdout
	os.Stdin, os.Stdout = inR, outW
	defer func() { os.Stdin, os.Stdout = oldIn, oldOut }()
	go func() {
		io.WriteString(inW, input)
		inW.Close()
	}()
	out := make(chan string)
	go func() {
		b, _ := io.ReadAll(outR)
		out <- string(b)
	}()
	err = cmdAccess(args)
	outW.Close()
	inR.Close()
	return <-out, err
}

// TestHashPasswordRoundTrip checks that `sluice access hash-password`
// prints a bcrypt hash that the password it read (without its line
// ending) matches, and nothing else does.
func TestHashPasswordRoundTrip(t *testing.T) {
	for _, input := range []string{"correct horse battery staple\n", "correct horse battery staple\r\n", "correct horse battery staple"} {
		out, err := runWithStdin(t, input, "hash-password")
		if err != nil {
			t.Fatalf("%q: %v", input, err)
		}
		hash, ok := strings.CutSuffix(out, "\n")
		if !ok || strings.Contains(hash, "\n") {
			t.Fatalf("%q: output %q is not one line", input, out)
		}
		if err := bcrypt.CompareHashAndPassword([]byte(hash), []byte("correct horse battery staple")); err != nil {
			t.Errorf("%q: the hash does not match the password: %v", input, err)
		}
		if bcrypt.CompareHashAndPassword([]byte(hash), []byte("correct horse battery staple\n")) == nil {
			t.Errorf("%q: the line ending was hashed too", input)
		}
		if cost, _ := bcrypt.Cost([]byte(hash)); cost != bcrypt.DefaultCost {
			t.Errorf("%q: cost %d, want %d", input, cost, bcrypt.DefaultCost)
		}
	}
}

// TestHashPasswordRefuses checks the inputs hash-password turns down.
func TestHashPasswordRefuses(t *testing.T) {
	for _, tc := range []struct {
		input string
		args  []string
		want  string
	}{
		{"\n", []string{"hash-password"}, "empty"},
		{strings.Repeat("x", 73) + "\n", []string{"hash-password"}, "at most 72"},
		{"secret\n", []string{"hash-password", "secret"}, "stdin"},
		{"secret\n", []string{"hash"}, "hash-password"},
	} {
		out, err := runWithStdin(t, tc.input, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) || out != "" {
			t.Errorf("%v with %.10q: %q, %v; want no output and an error mentioning %q", tc.args, tc.input, out, err, tc.want)
		}
	}
}
