package sysproxy

import (
	"context"
	"fmt"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// Detect returns the backends for this OS and desktop. env is added to
// the environment of the tools they run (see ExecRunner.Env) and is where
// XDG_CURRENT_DESKTOP is looked up first.
//
// On Linux the desktop named in XDG_CURRENT_DESKTOP decides: GNOME and the
// desktops that share its settings (Unity, Cinnamon, MATE, Budgie,
// Pantheon) use gsettings, KDE uses kwriteconfig6 or kwriteconfig5. When
// the variable names none of them, or its tool is missing, every backend
// whose tool is installed is used, since Sluice cannot tell which one the
// user's programs read.
func Detect(env []string) []Backend {
	run := ExecRunner{Env: env}
	switch runtime.GOOS {
	case "darwin":
		return []Backend{MacOS{Run: run}}
	case "windows":
		reg, err := OpenRegistry()
		if err != nil {
			return nil
		}
		return []Backend{Windows{Reg: reg}}
	}
	return detectDesktop(lookEnv(env, "XDG_CURRENT_DESKTOP"), env, run, exec.LookPath)
}

// detectDesktop picks Linux backends; look finds a tool on PATH.
func detectDesktop(desktop string, env []string, run Runner, look func(string) (string, error)) []Backend {
	has := func(tools ...string) bool {
		for _, t := range tools {
			if _, err := look(t); err != nil {
				return false
			}
		}
		return true
	}
	kde := func() Backend {
		switch {
		case has("kwriteconfig6", "kreadconfig6"):
			return KDE{Version: 6, Run: run, Env: env}
		case has("kwriteconfig5", "kreadconfig5"):
			return KDE{Version: 5, Run: run, Env: env}
		}
		return nil
	}
	for _, d := range strings.Split(desktop, ":") {
		switch strings.ToLower(strings.TrimSpace(d)) {
		case "gnome", "gnome-classic", "gnome-flashback", "unity", "cinnamon", "x-cinnamon", "mate", "budgie", "budgie-desktop", "pantheon":
			if has("gsettings") {
				return []Backend{GNOME{Run: run, Env: env}}
			}
		case "kde":
			if b := kde(); b != nil {
				return []Backend{b}
			}
		}
	}
	var out []Backend
	if has("gsettings") && gnomeSchemaInstalled(run) {
		out = append(out, GNOME{Run: run, Env: env})
	}
	if b := kde(); b != nil {
		out = append(out, b)
	}
	return out
}

// gnomeSchemaInstalled reports whether gsettings knows the proxy schema
// (gsettings can be installed without gsettings-desktop-schemas).
func gnomeSchemaInstalled(run Runner) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := run.Run(ctx, "gsettings", "range", gnomeSchema, "mode")
	return err == nil
}

// backendByName makes the backend a state file names, for restoring a
// snapshot taken by a process that may have detected differently.
func backendByName(name string, env []string) (Backend, error) {
	run := ExecRunner{Env: env}
	switch name {
	case "gnome":
		return GNOME{Run: run, Env: env}, nil
	case "kde5":
		return KDE{Version: 5, Run: run, Env: env}, nil
	case "kde6":
		return KDE{Version: 6, Run: run, Env: env}, nil
	case "macos":
		return MacOS{Run: run}, nil
	case "windows":
		reg, err := OpenRegistry()
		if err != nil {
			return nil, err
		}
		return Windows{Reg: reg}, nil
	}
	return nil, fmt.Errorf("unknown system proxy backend %q in the state file", name)
}
