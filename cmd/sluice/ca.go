package main

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/sluiceproxy/sluice/app"
	"github.com/sluiceproxy/sluice/inspect"
)

// caCommands are `sluice ca path|export|install|uninstall|status`: the
// inspection CA and where it is trusted.
var caCommands = []command{
	{name: "path", help: "where the inspection CA certificate is", run: caPath},
	{name: "export", args: "[--der]", help: "print the CA certificate (PEM, or DER with --der; never the key), making the CA if there is none", run: caExport},
	{name: "install", help: "trust the CA in your NSS databases (Chromium, Firefox on Linux) with certutil, and print the command for the OS store", run: caInstall},
	{name: "uninstall", help: "remove what install added, and print the command for the OS store", run: caUninstall},
	{name: "status", help: "the CA and where it is trusted", run: caStatus},
}

func caPath(args []string) error {
	if err := parseNoArgs(newFlags("ca path"), args); err != nil {
		return err
	}
	dir, err := app.CADir()
	if err != nil {
		return err
	}
	p := filepath.Join(dir, inspect.CertFile)
	fmt.Println(p)
	if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintln(os.Stderr, "sluice: there is no CA yet: it is made when [inspect] enabled = true, or by `sluice ca install`")
	}
	return nil
}

// loadCA returns the CA, making it when create is true and there is none.
func loadCA(create bool) (*inspect.CA, error) {
	dir, err := app.CADir()
	if err != nil {
		return nil, err
	}
	if create {
		return inspect.LoadOrCreateCA(dir)
	}
	ca, err := inspect.LoadCA(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("there is no CA in %s yet (it is made when [inspect] enabled = true, or by `sluice ca install`)", dir)
	}
	return ca, err
}

func caExport(args []string) error {
	fs := newFlags("ca export")
	der := fs.Bool("der", false, "DER instead of PEM")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	ca, err := loadCA(true)
	if err != nil {
		return err
	}
	if *der {
		_, err = os.Stdout.Write(ca.DER)
	} else {
		_, err = os.Stdout.Write(ca.PEM())
	}
	return err
}

// nickname names the CA in NSS databases: Sluice and the certificate's
// fingerprint, so install, uninstall and status find this CA and no
// other (a CA made anew gets another name).
func nickname(ca *inspect.CA) string {
	sum := sha256.Sum256(ca.DER)
	return "Sluice inspection CA " + hex.EncodeToString(sum[:6])
}

// nssDBs lists the NSS databases of this user: ~/.pki/nssdb (Chromium,
// and what other NSS programs share) first, then each Firefox profile's.
// Only the first is made when missing.
func nssDBs() ([]string, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return nil, fmt.Errorf("find the home dir: %w", err)
	}
	dbs := []string{filepath.Join(home, ".pki", "nssdb")}
	profiles, _ := filepath.Glob(filepath.Join(home, ".mozilla", "firefox", "*", "cert9.db"))
	for _, p := range profiles {
		dbs = append(dbs, filepath.Dir(p))
	}
	return dbs, nil
}

// certutil runs NSS's certutil (Debian package libnss3-tools).
func certutil(args ...string) (string, error) {
	path, err := exec.LookPath("certutil")
	if err != nil {
		return "", errors.New("certutil is not installed (Debian and Ubuntu: apt install libnss3-tools; Fedora: dnf install nss-tools; Arch: pacman -S nss)")
	}
	out, err := exec.Command(path, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("certutil %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return string(out), nil
}

// usesNSS says whether this OS's browsers keep their own NSS databases
// (Linux and the BSDs; on Windows "certutil" is another program).
func usesNSS() bool { return runtime.GOOS != "windows" && runtime.GOOS != "darwin" }

func caInstall(args []string) error {
	if err := parseNoArgs(newFlags("ca install"), args); err != nil {
		return err
	}
	ca, err := loadCA(true)
	if err != nil {
		return err
	}
	fmt.Printf("CA: %s\n", ca.CertPath())
	var failed error
	if usesNSS() {
		failed = nssInstall(ca)
	}
	fmt.Printf("\nTo trust it system-wide (curl, Go and most programs), run:\n%s", osStoreCommand(ca, true))
	return failed
}

func nssInstall(ca *inspect.CA) error {
	dbs, err := nssDBs()
	if err != nil {
		return err
	}
	nick := nickname(ca)
	for i, db := range dbs {
		if i == 0 {
			if err := ensureNSSDB(db); err != nil {
				return err
			}
		}
		if _, err := certutil("-A", "-d", "sql:"+db, "-n", nick, "-t", "C,,", "-i", ca.CertPath()); err != nil {
			return err
		}
		fmt.Printf("trusted in the NSS database %s as %q\n", db, nick)
	}
	fmt.Println("restart the browser for it to see the change")
	return nil
}

// ensureNSSDB makes an empty NSS database in db if there is none.
func ensureNSSDB(db string) error {
	if _, err := os.Stat(filepath.Join(db, "cert9.db")); err == nil {
		return nil
	}
	if err := os.MkdirAll(db, 0o700); err != nil {
		return fmt.Errorf("make %s: %w", db, err)
	}
	if _, err := certutil("-N", "-d", "sql:"+db, "--empty-password"); err != nil {
		return err
	}
	fmt.Printf("made the NSS database %s\n", db)
	return nil
}

func caUninstall(args []string) error {
	if err := parseNoArgs(newFlags("ca uninstall"), args); err != nil {
		return err
	}
	ca, err := loadCA(false)
	if err != nil {
		return err
	}
	if usesNSS() {
		dbs, err := nssDBs()
		if err != nil {
			return err
		}
		nick := nickname(ca)
		for _, db := range dbs {
			if !nssHas(db, nick) {
				continue
			}
			if _, err := certutil("-D", "-d", "sql:"+db, "-n", nick); err != nil {
				return err
			}
			fmt.Printf("removed %q from the NSS database %s\n", nick, db)
		}
	}
	fmt.Printf("\nIf you trusted it system-wide, remove it with:\n%s", osStoreCommand(ca, false))
	return nil
}

// nssHas reports whether db trusts the certificate named nick.
func nssHas(db, nick string) bool {
	if _, err := os.Stat(filepath.Join(db, "cert9.db")); err != nil {
		return false
	}
	_, err := certutil("-L", "-d", "sql:"+db, "-n", nick)
	return err == nil
}

func caStatus(args []string) error {
	if err := parseNoArgs(newFlags("ca status"), args); err != nil {
		return err
	}
	ca, err := loadCA(false)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(ca.DER)
	fmt.Printf("CA:          %s\nsubject:     %s\nvalid until: %s\nSHA-256:     %s\n",
		ca.CertPath(), ca.Cert.Subject.CommonName, ca.Cert.NotAfter.Format("2006-01-02"), hex.EncodeToString(sum[:]))
	if usesNSS() {
		dbs, err := nssDBs()
		if err != nil {
			return err
		}
		for _, db := range dbs {
			state := "not trusted"
			if nssHas(db, nickname(ca)) {
				state = "trusted"
			}
			fmt.Printf("NSS %s: %s\n", db, state)
		}
	}
	state := "not trusted"
	if roots, err := x509.SystemCertPool(); err == nil {
		if _, err := ca.Cert.Verify(x509.VerifyOptions{Roots: roots}); err == nil {
			state = "trusted"
		}
	}
	fmt.Printf("OS store: %s\n", state)
	return nil
}

// osStoreCommand is the command that adds the CA to (or removes it from)
// this OS's own store. Sluice prints it rather than run it: it needs
// administrator rights, or asks for the user's password.
func osStoreCommand(ca *inspect.CA, add bool) string {
	cert := ca.CertPath()
	switch runtime.GOOS {
	case "darwin":
		if add {
			return fmt.Sprintf("  security add-trusted-cert -r trustRoot -k ~/Library/Keychains/login.keychain-db %q\n", cert)
		}
		return fmt.Sprintf("  security remove-trusted-cert %q && security delete-certificate -c %q ~/Library/Keychains/login.keychain-db\n", cert, ca.Cert.Subject.CommonName)
	case "windows":
		if add {
			return fmt.Sprintf("  certutil -addstore -user Root \"%s\"\n", cert)
		}
		return fmt.Sprintf("  certutil -delstore -user Root %s\n", ca.Cert.SerialNumber.Text(16))
	}
	const dst = "/usr/local/share/ca-certificates/sluice-ca.crt"
	if add {
		return fmt.Sprintf("  sudo cp %q %s && sudo update-ca-certificates   # Debian, Ubuntu\n", cert, dst)
	}
	return fmt.Sprintf("  sudo rm %s && sudo update-ca-certificates --fresh   # Debian, Ubuntu\n", dst)
}
