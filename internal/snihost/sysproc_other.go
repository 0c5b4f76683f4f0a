//go:build !linux

package snihost

import "syscall"

func sysProcAttr() *syscall.SysProcAttr { return nil }
