package packaging

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"debug/pe"
	"encoding/binary"
	"encoding/pem"
	"encoding/xml"
	"image/png"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf16"
)

// winVersion is the git-describe-style version the Windows test builds
// with, and winFileVersion what version.sh makes of it.
const (
	winVersion     = "v1.2.3-4-gabc1234"
	winFileVersion = "1.2.3.4"
)

// TestWindowsExecutable is acceptance test 2 of the packaging issue:
// `make windows` builds sluice.exe with the GUI subsystem (no console
// window), the icon, the manifest and version information, with the
// version from -ldflags; and signing works when a certificate is given.
func TestWindowsExecutable(t *testing.T) {
	if testing.Short() {
		t.Skip("builds sluice.exe for windows/amd64; skipped with -short")
	}
	needTool(t, "make", "make")
	exe := filepath.Join(t.TempDir(), "sluice.exe")
	noSign := []string{"SIGN_PFX=", "SIGN_CERT=", "SIGN_KEY="}
	out := run(t, repoRoot, noSign, "make", "--no-print-directory", "-f", "packaging/packaging.mk",
		"windows", "WIN_EXE="+exe, "VERSION="+winVersion)
	if !strings.Contains(out, "sign: skipped") {
		t.Errorf("make windows without a certificate did not say signing was skipped:\n%s", out)
	}
	for _, left := range []string{"cmd/sluice/rsrc_windows_amd64.syso", "_winbuild"} {
		if _, err := os.Stat(filepath.Join(repoRoot, left)); !os.IsNotExist(err) {
			t.Errorf("make windows left %s behind (stat: %v)", left, err)
		}
	}
	data, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("GUISubsystem", func(t *testing.T) {
		f := openPE(t, exe)
		oh, ok := f.OptionalHeader.(*pe.OptionalHeader64)
		if !ok {
			t.Fatalf("optional header is %T, want PE32+ (amd64)", f.OptionalHeader)
		}
		if oh.Subsystem != pe.IMAGE_SUBSYSTEM_WINDOWS_GUI {
			t.Errorf("subsystem %d, want IMAGE_SUBSYSTEM_WINDOWS_GUI (%d): a console window would open", oh.Subsystem, pe.IMAGE_SUBSYSTEM_WINDOWS_GUI)
		}
		if f.Machine != pe.IMAGE_FILE_MACHINE_AMD64 {
			t.Errorf("machine %#x, want amd64", f.Machine)
		}
	})

	t.Run("VersionFromLdflags", func(t *testing.T) {
		// -X app.Version stores the string as plain bytes in the binary.
		if !bytes.Contains(data, []byte(winVersion)) {
			t.Errorf("%s not found in sluice.exe: -ldflags -X app.Version did not apply", winVersion)
		}
	})

	res := resourcesOf(t, exe)

	t.Run("Icon", func(t *testing.T) {
		var group []byte
		for _, r := range res {
			if r.typ == rtGroupIcon {
				group = r.data
				break
			}
		}
		if group == nil {
			t.Fatal("no RT_GROUP_ICON resource")
		}
		le := binary.LittleEndian
		if len(group) < 6 || le.Uint16(group[2:]) != 1 {
			t.Fatalf("RT_GROUP_ICON is not an icon directory: % x", group[:min(6, len(group))])
		}
		var sizes []int
		for i := range int(le.Uint16(group[4:])) {
			e := group[6+14*i:]
			w, id := int(e[0]), uint32(le.Uint16(e[12:]))
			if w == 0 {
				w = 256
			}
			idx := slices.IndexFunc(res, func(r peResource) bool { return r.typ == rtIcon && r.name == id })
			if idx < 0 {
				t.Errorf("group entry %d points at RT_ICON %d, which is missing", i, id)
				continue
			}
			cfg, err := png.DecodeConfig(bytes.NewReader(res[idx].data))
			if err != nil {
				t.Errorf("RT_ICON %d: %v", id, err)
				continue
			}
			if cfg.Width != w || cfg.Height != w {
				t.Errorf("RT_ICON %d is %dx%d, group says %d", id, cfg.Width, cfg.Height, w)
			}
			sizes = append(sizes, w)
		}
		slices.Sort(sizes)
		want := []int{16, 20, 24, 32, 40, 48, 64, 128, 256}
		if !slices.Equal(sizes, want) {
			t.Errorf("icon sizes %v, want %v", sizes, want)
		}
	})

	t.Run("Manifest", func(t *testing.T) {
		idx := slices.IndexFunc(res, func(r peResource) bool { return r.typ == rtManifest && r.name == 1 })
		if idx < 0 {
			t.Fatal("no RT_MANIFEST #1 resource")
		}
		m := manifestFacts(t, res[idx].data)
		want := map[string]string{
			"requestedExecutionLevel@level": "asInvoker",
			"dpiAwareness":                  "PerMonitorV2, PerMonitor",
			"supportedOS@Id":                "{8e0f7a12-bfb3-4fe8-b9a5-48fd50a15a9a}",
			"assemblyIdentity@name":         "Microsoft.Windows.Common-Controls",
			"assemblyIdentity@version":      "6.0.0.0",
		}
		for k, v := range want {
			if !slices.Contains(m[k], v) {
				t.Errorf("manifest %s = %q, want %q", k, m[k], v)
			}
		}
	})

	t.Run("VersionInfo", func(t *testing.T) {
		idx := slices.IndexFunc(res, func(r peResource) bool { return r.typ == rtVersion })
		if idx < 0 {
			t.Fatal("no RT_VERSION resource")
		}
		v := res[idx].data
		// VS_FIXEDFILEINFO starts with the signature 0xFEEF04BD.
		sig := binary.LittleEndian.AppendUint32(nil, 0xFEEF04BD)
		at := bytes.Index(v, sig)
		if at < 0 || at+16 > len(v) {
			t.Fatal("no VS_FIXEDFILEINFO in RT_VERSION")
		}
		ms, ls := binary.LittleEndian.Uint32(v[at+8:]), binary.LittleEndian.Uint32(v[at+12:])
		got := strings.Join([]string{itoa(ms >> 16), itoa(ms & 0xffff), itoa(ls >> 16), itoa(ls & 0xffff)}, ".")
		if got != winFileVersion {
			t.Errorf("file version %s, want %s", got, winFileVersion)
		}
		for _, s := range []string{"Sluice", winVersion, "sluice.exe"} {
			if !bytes.Contains(v, utf16le(s)) {
				t.Errorf("version strings lack %q", s)
			}
		}
	})

	t.Run("Sign", func(t *testing.T) {
		osslsigncode := needTool(t, "osslsigncode", "osslsigncode")
		dir := t.TempDir()
		cert, key := selfSignedCodeSigning(t, dir)
		signWith := func(t *testing.T, env []string) {
			signed := filepath.Join(t.TempDir(), "sluice.exe")
			if err := os.WriteFile(signed, data, 0o644); err != nil {
				t.Fatal(err)
			}
			out := run(t, repoRoot, env, "sh", "packaging/windows/sign.sh", signed)
			if !strings.Contains(out, "sign: signed") {
				t.Errorf("sign.sh output: %s", out)
			}
			f := openPE(t, signed)
			oh := f.OptionalHeader.(*pe.OptionalHeader64)
			if sec := oh.DataDirectory[pe.IMAGE_DIRECTORY_ENTRY_SECURITY]; sec.Size == 0 {
				t.Error("signed sluice.exe has no certificate table")
			}
			if oh.Subsystem != pe.IMAGE_SUBSYSTEM_WINDOWS_GUI {
				t.Error("signing changed the subsystem")
			}
			if out, err := runErr(t, dir, nil, osslsigncode, "verify", "-CAfile", cert, "-in", signed); err != nil {
				t.Errorf("osslsigncode verify: %v\n%s", err, out)
			}
		}
		t.Run("CertAndKey", func(t *testing.T) {
			signWith(t, []string{"SIGN_PFX=", "SIGN_PASS=", "SIGN_CERT=" + cert, "SIGN_KEY=" + key})
		})
		t.Run("PFXWithPassword", func(t *testing.T) {
			openssl := needTool(t, "openssl", "openssl")
			pfx := filepath.Join(dir, "signer.pfx")
			run(t, dir, nil, openssl, "pkcs12", "-export", "-inkey", key, "-in", cert, "-out", pfx, "-passout", "pass:s3cret")
			signWith(t, []string{"SIGN_PFX=" + pfx, "SIGN_PASS=s3cret", "SIGN_CERT=", "SIGN_KEY="})
		})
	})
}

func openPE(t *testing.T, path string) *pe.File {
	t.Helper()
	f, err := pe.Open(path)
	if err != nil {
		t.Fatalf("parse %s as PE: %v", path, err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func resourcesOf(t *testing.T, path string) []peResource {
	t.Helper()
	res, err := peResources(openPE(t, path))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return res
}

// manifestFacts parses a manifest and returns, by local name, each
// element's text ("dpiAwareness") and each attribute ("supportedOS@Id").
// Checking parsed XML rather than substrings makes a malformed manifest,
// which Windows refuses to start, fail the test.
func manifestFacts(t *testing.T, data []byte) map[string][]string {
	t.Helper()
	facts := map[string][]string{}
	d := xml.NewDecoder(bytes.NewReader(data))
	var stack []string
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("manifest is not well-formed XML: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			stack = append(stack, tok.Name.Local)
			for _, a := range tok.Attr {
				facts[tok.Name.Local+"@"+a.Name.Local] = append(facts[tok.Name.Local+"@"+a.Name.Local], a.Value)
			}
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if s := strings.TrimSpace(string(tok)); s != "" && len(stack) > 0 {
				facts[stack[len(stack)-1]] = append(facts[stack[len(stack)-1]], s)
			}
		}
	}
	if len(stack) != 0 {
		t.Fatalf("manifest has unclosed elements: %v", stack)
	}
	return facts
}

// selfSignedCodeSigning writes a throwaway code-signing certificate and
// its key as PEM files into dir.
func selfSignedCodeSigning(t *testing.T, dir string) (certPath, keyPath string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "Sluice test signer"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certPath, keyPath
}

func utf16le(s string) []byte {
	var b []byte
	for _, u := range utf16.Encode([]rune(s)) {
		b = binary.LittleEndian.AppendUint16(b, u)
	}
	return b
}

func itoa(v uint32) string { return strconv.FormatUint(uint64(v), 10) }
