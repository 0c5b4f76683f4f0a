//go:build linux

package harness

import "fmt"

// The config files below are written into the run's temporary directory.
// Each peer is set up the way a careful user would for a fair comparison:
// no cache, no access log, upstream keep-alive on, limits raised above
// 1000 connections, only 127.0.0.1 allowed, CONNECT allowed to any port.

// nginxCommon is the part of both nginx configs outside the server block:
// one worker, as the issue asks, and every temp path inside dir so that
// nginx never touches /var.
func nginxCommon(dir string) string {
	return fmt.Sprintf(`daemon off;
master_process on;
user root;
worker_processes 1;
worker_rlimit_nofile 65536;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log crit;
events {
    worker_connections 8192;
    multi_accept on;
}
`, dir)
}

func nginxHTTPCommon(dir string) string {
	return fmt.Sprintf(`    access_log off;
    default_type application/octet-stream;
    keepalive_timeout 300s;
    keepalive_requests 100000000;
    client_body_temp_path %[1]s/client_body;
    proxy_temp_path %[1]s/proxy_temp;
    fastcgi_temp_path %[1]s/fastcgi_temp;
    uwsgi_temp_path %[1]s/uwsgi_temp;
    scgi_temp_path %[1]s/scgi_temp;
`, dir)
}

// nginxOriginConfig serves root on port: /64 and /1g are plain files, sent
// with sendfile.
func nginxOriginConfig(dir, root string, port int) string {
	return nginxCommon(dir) + "http {\n" + nginxHTTPCommon(dir) + fmt.Sprintf(`    sendfile on;
    tcp_nopush on;
    server {
        listen 127.0.0.1:%d backlog=8192;
        root %s;
        location / { }
    }
}
`, port, root)
}

// nginxRelayConfig makes nginx a fixed reverse proxy to the origin (and to
// the upload sink for /upload), with pooled upstream connections and no
// buffering, so bodies stream as they do through a forward proxy. nginx
// takes absolute-form request targets, so the same wrk script drives it.
func nginxRelayConfig(dir string, port, originPort, sinkPort int) string {
	return nginxCommon(dir) + "http {\n" + nginxHTTPCommon(dir) + fmt.Sprintf(`    upstream origin {
        server 127.0.0.1:%d;
        keepalive 256;
    }
    upstream sink {
        server 127.0.0.1:%d;
        keepalive 16;
    }
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_buffering off;
    proxy_request_buffering off;
    client_max_body_size 0;
    server {
        listen 127.0.0.1:%d backlog=8192;
        location / { proxy_pass http://origin; }
        location /upload { proxy_pass http://sink; }
    }
}
`, originPort, sinkPort, port)
}

// privoxyConfig turns privoxy into a plain forwarder: no filters, no log
// beyond errors, connection sharing with the upstream on, and CONNECT to
// every port (privoxy allows only 443 unless an action says otherwise).
func privoxyConfig(dir string, port int) string {
	return fmt.Sprintf(`confdir %[1]s
logdir %[1]s
actionsfile bench.action
listen-address 127.0.0.1:%[2]d
toggle 1
enable-remote-toggle 0
enable-remote-http-toggle 0
enable-edit-actions 0
enforce-blocks 0
buffer-limit 4096
forwarded-connect-retries 0
accept-intercepted-requests 0
allow-cgi-request-crunching 0
split-large-forms 0
keep-alive-timeout 300
tolerate-pipelining 1
socket-timeout 300
connection-sharing 1
max-client-connections 4096
listen-backlog 4096
`, dir, port)
}

const privoxyActions = "{ +limit-connect{1-} }\n/\n"

// tinyproxyConfig: tinyproxy allows CONNECT to every port when no
// ConnectPort line is present. It has no upstream pooling to turn on.
func tinyproxyConfig(dir string, port int) string {
	return fmt.Sprintf(`Port %[2]d
Listen 127.0.0.1
Timeout 600
MaxClients 4096
Allow 127.0.0.1
LogLevel Critical
LogFile "%[1]s/tinyproxy.log"
PidFile "%[1]s/tinyproxy.pid"
DisableViaHeader Yes
`, dir, port)
}

// squidConfig: no cache at all (cache deny all, no cache_dir), no access
// log, one process, CONNECT allowed to every port from localhost. squid
// runs as its Debian user "proxy", so dir must be writable by it.
func squidConfig(dir string, port int) string {
	return fmt.Sprintf(`http_port 127.0.0.1:%[2]d
visible_hostname loadbench
acl localhost_src src 127.0.0.1/32
http_access allow localhost_src
http_access deny all
cache deny all
cache_mem 0 MB
access_log none
cache_store_log none
cache_log %[1]s/cache.log
pid_filename %[1]s/squid.pid
coredump_dir %[1]s
logfile_rotate 0
max_filedescriptors 65536
workers 1
via off
forwarded_for transparent
shutdown_lifetime 1 seconds
client_persistent_connections on
server_persistent_connections on
pconn_timeout 300 seconds
read_timeout 300 seconds
dns_v4_first on
`, dir, port)
}

// SluiceConfig describes the Sluice instance a column measures.
type SluiceConfig struct {
	// Port to listen on (127.0.0.1).
	Port int
	// LogDir is the log directory.
	LogDir string
	// AccessLog turns the access log on.
	AccessLog bool
	// Routing is appended to the file: [route], [[upstream]] and
	// [[rule]] tables ("" for none).
	Routing string
}

// sluiceConfig writes config.toml for c. Keys as in assets/config.toml;
// max_concurrent stays at its default (2048), which covers the
// 1000-connection load.
func sluiceConfig(c SluiceConfig) string {
	return fmt.Sprintf(`[proxy]
listen = "127.0.0.1:%d"

[log]
dir = %q
access_log = %t

[metrics]
enabled = true
`, c.Port, c.LogDir, c.AccessLog) + c.Routing
}
