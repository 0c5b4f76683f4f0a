package main

import (
	"os"

	"golang.org/x/sys/windows"
)

// sluice.exe is built as a GUI program so the tray app opens no console
// window. Typed in a terminal, though, its subcommands must still print:
// attach to the parent's console when there is one and output is not
// already redirected to a file or pipe.
func init() {
	if h, err := windows.GetStdHandle(windows.STD_OUTPUT_HANDLE); err == nil && h != 0 && h != windows.InvalidHandle {
		return // redirected: keep it
	}
	attach := windows.NewLazySystemDLL("kernel32.dll").NewProc("AttachConsole")
	const attachParentProcess = ^uintptr(0) // ATTACH_PARENT_PROCESS, (DWORD)-1
	if r, _, _ := attach.Call(attachParentProcess); r == 0 {
		return // started from Explorer or at login: no console to attach
	}
	if f, err := os.OpenFile("CONOUT$", os.O_WRONLY, 0); err == nil {
		os.Stdout, os.Stderr = f, f
	}
}
