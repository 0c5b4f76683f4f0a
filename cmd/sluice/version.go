package main

import (
	"fmt"
	"runtime"

	"github.com/sluiceproxy/sluice/app"
)

func cmdVersion([]string) error {
	fmt.Printf("sluice %s (commit %s, %s, %s/%s)\n", app.Version, app.Commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}
