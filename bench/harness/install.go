//go:build linux

package harness

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
)

// tool is a program the harness runs, the Debian package that provides it
// and the system service a fresh install of that package may start.
type tool struct {
	bin, pkg, service string
	// optional tools only drop their column when missing.
	optional bool
}

func tools() []tool {
	return []tool{
		{bin: "wrk", pkg: "wrk"},
		{bin: "curl", pkg: "curl"},
		{bin: "nginx", pkg: "nginx-light", service: "nginx"},
		{bin: "privoxy", pkg: "privoxy", service: "privoxy", optional: true},
		{bin: "tinyproxy", pkg: "tinyproxy", service: "tinyproxy", optional: true},
		{bin: "squid", pkg: "squid", service: "squid", optional: true},
		// For the tray app's idle RSS, measured on a private session bus.
		{bin: "dbus-daemon", pkg: "dbus", optional: true},
	}
}

// ensureTools installs the Debian packages of missing tools with apt-get
// (when install is set) and stops the service each install started: the
// harness runs its own instances with its own configs, and a system squid
// or nginx would only take CPU from the measurement. It returns an error
// only for a missing required tool.
func ensureTools(ctx context.Context, log io.Writer, install bool) error {
	var missing []tool
	for _, t := range tools() {
		if _, err := exec.LookPath(t.bin); err != nil {
			missing = append(missing, t)
		}
	}
	if len(missing) > 0 && install {
		pkgs := make([]string, len(missing))
		for i, t := range missing {
			pkgs[i] = t.pkg
		}
		fmt.Fprintf(log, "installing %s with apt-get\n", strings.Join(pkgs, " "))
		args := append([]string{"install", "-y", "--no-install-recommends", "-o", "DPkg::Lock::Timeout=600"}, pkgs...)
		cmd := exec.CommandContext(ctx, "apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(log, "apt-get install failed (%v); run it yourself as root: apt-get install -y %s\n%s\n",
				err, strings.Join(pkgs, " "), tail(string(out), 2000))
		}
		for _, t := range missing {
			if t.service != "" {
				// No systemd here: the package's init script may have
				// started the daemon. "service stop" is a no-op if not.
				_ = exec.CommandContext(ctx, "service", t.service, "stop").Run()
			}
		}
	}
	var fatal []string
	for _, t := range tools() {
		if _, err := exec.LookPath(t.bin); err != nil {
			if t.optional {
				fmt.Fprintf(log, "%s not found: its column will be empty (apt-get install -y %s)\n", t.bin, t.pkg)
				continue
			}
			fatal = append(fatal, t.pkg)
		}
	}
	if len(fatal) > 0 {
		return fmt.Errorf("missing %s: install with apt-get install -y %s (as root), or run without -no-install",
			strings.Join(fatal, ", "), strings.Join(fatal, " "))
	}
	return nil
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
