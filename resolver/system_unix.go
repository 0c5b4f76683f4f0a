//go:build !windows

package resolver

import "os"

const defaultResolvConf = "/etc/resolv.conf"

// defaultHostsPath is the hosts file on Linux, macOS and the BSDs.
func defaultHostsPath() string { return "/etc/hosts" }

// systemServers reads the nameserver lines of resolvConf ("" means
// /etc/resolv.conf). macOS keeps that file in step with its configured
// resolvers, which is what Go's own resolver relies on too.
func systemServers(resolvConf string) ([]string, error) {
	if resolvConf == "" {
		resolvConf = defaultResolvConf
	}
	data, err := os.ReadFile(resolvConf)
	if err != nil {
		return nil, err
	}
	return parseResolvConf(data), nil
}
