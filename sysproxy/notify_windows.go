package sysproxy

import (
	"context"
	"fmt"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"
)

// changes is Windows.Changes on the real registry: RegNotifyChangeKeyValue
// on the Internet Settings key, where the Settings app, Internet Options
// and every other program that sets the proxy write. A goroutine waits on
// the key's event, blocked in the kernel, until ctx ends.
func (r winRegistry) changes(ctx context.Context) (<-chan struct{}, error) {
	k, err := r.open(registry.NOTIFY)
	if err != nil {
		return nil, err
	}
	changed, err := windows.CreateEvent(nil, 0, 0, nil) // auto-reset
	if err != nil {
		k.Close()
		return nil, fmt.Errorf("watch HKCU\\%s: create event: %w", internetSettingsKey, err)
	}
	stop, err := windows.CreateEvent(nil, 1, 0, nil) // manual reset
	if err != nil {
		windows.CloseHandle(changed)
		k.Close()
		return nil, fmt.Errorf("watch HKCU\\%s: create event: %w", internetSettingsKey, err)
	}
	closeAll := func() {
		k.Close()
		windows.CloseHandle(changed)
		windows.CloseHandle(stop)
	}
	// A registration fires once. Thread-agnostic, so that it outlives a
	// change of the OS thread the goroutine runs on.
	arm := func() error {
		const filter = windows.REG_NOTIFY_CHANGE_NAME | windows.REG_NOTIFY_CHANGE_LAST_SET | windows.REG_NOTIFY_THREAD_AGNOSTIC
		return windows.RegNotifyChangeKeyValue(windows.Handle(k), false, filter, changed, true)
	}
	if err := arm(); err != nil {
		closeAll()
		return nil, fmt.Errorf("watch HKCU\\%s: %w", internetSettingsKey, err)
	}
	out := make(chan struct{}, 1)
	go func() {
		defer close(out)
		defer closeAll()
		unhook := context.AfterFunc(ctx, func() { windows.SetEvent(stop) })
		defer unhook()
		for {
			ev, err := windows.WaitForMultipleObjects([]windows.Handle{changed, stop}, false, windows.INFINITE)
			if err != nil || ev != windows.WAIT_OBJECT_0 {
				return
			}
			// Re-armed before telling, so a change made while the caller
			// reads the settings is not missed.
			if err := arm(); err != nil {
				return
			}
			notify(out)
		}
	}()
	return out, nil
}
