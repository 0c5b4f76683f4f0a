//go:build windows

package resolver

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"syscall"
	"unsafe"

	"golang.org/x/sys/windows"
)

// defaultHostsPath is the hosts file under the Windows system directory,
// normally C:\Windows\System32\drivers\etc\hosts.
func defaultHostsPath() string {
	dir, err := windows.GetSystemDirectory()
	if err != nil {
		dir = `C:\Windows\System32`
	}
	return filepath.Join(dir, "drivers", "etc", "hosts")
}

// systemServers asks the network adapters for their DNS servers; Windows
// has no resolv.conf, so the argument is ignored.
func systemServers(string) ([]string, error) {
	aas, err := adapterAddresses()
	if err != nil {
		return nil, err
	}
	var adapters []adapter
	for aa := aas; aa != nil; aa = aa.Next {
		a := adapter{
			up:         aa.OperStatus == windows.IfOperStatusUp,
			hasGateway: aa.FirstGatewayAddress != nil,
		}
		for d := aa.FirstDnsServerAddress; d != nil; d = d.Next {
			if ip, ok := netip.AddrFromSlice(d.Address.IP()); ok {
				a.dns = append(a.dns, ip.Unmap())
			}
		}
		adapters = append(adapters, a)
	}
	return serversFromAdapters(adapters), nil
}

// adapterAddresses calls GetAdaptersAddresses, growing the buffer as told.
func adapterAddresses() (*windows.IpAdapterAddresses, error) {
	const flags = windows.GAA_FLAG_SKIP_UNICAST | windows.GAA_FLAG_SKIP_ANYCAST |
		windows.GAA_FLAG_SKIP_MULTICAST | windows.GAA_FLAG_INCLUDE_GATEWAYS
	size := uint32(15000) // the size Microsoft recommends starting with
	for range 4 {
		buf := make([]byte, size)
		aa := (*windows.IpAdapterAddresses)(unsafe.Pointer(&buf[0]))
		err := windows.GetAdaptersAddresses(syscall.AF_UNSPEC, flags, 0, aa, &size)
		if err == nil {
			if size == 0 {
				return nil, nil
			}
			return aa, nil
		}
		if !errors.Is(err, windows.ERROR_BUFFER_OVERFLOW) {
			return nil, os.NewSyscallError("GetAdaptersAddresses", err)
		}
	}
	return nil, errors.New("GetAdaptersAddresses: the adapter list kept growing")
}
