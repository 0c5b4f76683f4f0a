package sysproxy

import (
	"errors"
	"fmt"
	"strconv"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"
)

const internetSettingsKey = `Software\Microsoft\Windows\CurrentVersion\Internet Settings`

// WinINet option numbers (wininet.h).
const (
	internetOptionRefresh         = 37
	internetOptionSettingsChanged = 39
)

// winRegistry is the real Registry: HKCU's Internet Settings key.
type winRegistry struct {
	internetSetOption *windows.LazyProc
}

// OpenRegistry returns the current user's Internet Settings registry key.
func OpenRegistry() (Registry, error) {
	return winRegistry{
		internetSetOption: windows.NewLazySystemDLL("wininet.dll").NewProc("InternetSetOptionW"),
	}, nil
}

func (r winRegistry) open(access uint32) (registry.Key, error) {
	k, err := registry.OpenKey(registry.CURRENT_USER, internetSettingsKey, access)
	if err != nil {
		return 0, fmt.Errorf(`open HKCU\%s: %w`, internetSettingsKey, err)
	}
	return k, nil
}

func (r winRegistry) Get(name string) (Value, error) {
	k, err := r.open(registry.QUERY_VALUE)
	if err != nil {
		return Value{}, err
	}
	defer k.Close()
	_, typ, err := k.GetValue(name, nil)
	if errors.Is(err, registry.ErrNotExist) {
		return Value{Absent: true}, nil
	}
	if err != nil {
		return Value{}, err
	}
	switch typ {
	case registry.DWORD:
		n, _, err := k.GetIntegerValue(name)
		if err != nil {
			return Value{}, err
		}
		return Value{V: strconv.FormatUint(n, 10), Kind: KindDWORD}, nil
	case registry.SZ, registry.EXPAND_SZ:
		s, _, err := k.GetStringValue(name)
		if err != nil {
			return Value{}, err
		}
		kind := KindString
		if typ == registry.EXPAND_SZ {
			kind = KindExpandSZ
		}
		return Value{V: s, Kind: kind}, nil
	default:
		// Sluice could not write it back exactly, so it refuses to touch it.
		return Value{}, fmt.Errorf("value %s has registry type %d, which Sluice does not restore; fix it in regedit", name, typ)
	}
}

func (r winRegistry) Set(name string, v Value) error {
	k, err := r.open(registry.SET_VALUE)
	if err != nil {
		return err
	}
	defer k.Close()
	switch v.Kind {
	case KindDWORD:
		n, err := strconv.ParseUint(v.V, 10, 32)
		if err != nil {
			return fmt.Errorf("value %s: %q is not a DWORD", name, v.V)
		}
		return k.SetDWordValue(name, uint32(n))
	case KindExpandSZ:
		return k.SetExpandStringValue(name, v.V)
	default:
		return k.SetStringValue(name, v.V)
	}
}

func (r winRegistry) Delete(name string) error {
	k, err := r.open(registry.SET_VALUE)
	if err != nil {
		return err
	}
	defer k.Close()
	if err := k.DeleteValue(name); err != nil && !errors.Is(err, registry.ErrNotExist) {
		return err
	}
	return nil
}

func (r winRegistry) Notify() error {
	for _, opt := range []uintptr{internetOptionSettingsChanged, internetOptionRefresh} {
		if err := r.internetSetOption.Find(); err != nil {
			return fmt.Errorf("load wininet.dll: %w", err)
		}
		// BOOL InternetSetOptionW(HINTERNET, DWORD, LPVOID, DWORD)
		ok, _, err := r.internetSetOption.Call(0, opt, 0, 0)
		if ok == 0 {
			return fmt.Errorf("InternetSetOption(%d): %w", opt, err)
		}
	}
	return nil
}
