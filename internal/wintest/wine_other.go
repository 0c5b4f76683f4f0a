//go:build !windows

package wintest

// UnderWine reports whether this process runs under Wine: never, off
// Windows.
func UnderWine() bool { return false }
