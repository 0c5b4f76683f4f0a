//go:build !windows

package sysproxy

import "errors"

// OpenRegistry is only available on Windows.
func OpenRegistry() (Registry, error) {
	return nil, errors.New("the Windows registry exists only on Windows")
}
