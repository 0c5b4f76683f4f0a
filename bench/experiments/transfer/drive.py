#!/usr/bin/env python3
"""Transfer experiments: 1 GiB through Sluice, the fasthttp reference and
plain TCP relays (nginx stream, socat, Go splice / user-space copy), in
interleaved rounds. Reports curl's MB/s and the CPU seconds of curl, the
origin nginx worker and the relay, and the whole machine's busy share;
medians over rounds. Run as root from the repository root after make build
and make loadbench; needs nginx-light, libnginx-mod-stream, socat, curl.

  ROUNDS=5 SLUICES=a=bin/sluice,b=/tmp/sluice-variant python3 bench/experiments/transfer/drive.py
  SKIP=fasthttp,relays  leaves those columns out; ONLY=sluice,direct keeps matching ones.
"""
import os, sys, time, subprocess, statistics, json, signal, socket

HZ = os.sysconf('SC_CLK_TCK')
D = os.environ.get('DIR', '/tmp/transfer-exp')  # scratch: configs, the 1 GiB file
LOADBENCH = os.environ.get('LOADBENCH', 'bin/loadbench')  # for its refproxy helper
RELAY = os.environ.get('RELAY', os.path.join(D, 'relay'))  # go build -o $RELAY . in this dir
ROUNDS = int(os.environ.get('ROUNDS', '5'))
ONLY = os.environ.get('ONLY', '')

def port_free():
    s = socket.socket(); s.bind(('127.0.0.1', 0)); p = s.getsockname()[1]; s.close(); return p

def wait_port(p, t=10):
    end = time.time() + t
    while time.time() < end:
        try:
            socket.create_connection(('127.0.0.1', p), 0.5).close(); return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f'port {p} not listening')

def cpu(pid):
    try:
        f = open(f'/proc/{pid}/stat').read().rsplit(')', 1)[1].split()
        return sum(int(x) for x in f[11:15]) / HZ  # utime stime cutime cstime
    except FileNotFoundError:
        return 0.0

def tree(pid):
    out = [pid]
    for d in os.listdir('/proc'):
        if d.isdigit():
            try:
                pp = int(open(f'/proc/{d}/stat').read().rsplit(')', 1)[1].split()[1])
            except Exception:
                continue
            if pp == pid: out.append(int(d))
    return out

def sysbusy():
    f = [int(x) for x in open('/proc/stat').readline().split()[1:]]
    idle = f[3] + f[4]
    return sum(f) - idle, sum(f)

procs = []
def start(args, **kw):
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=open(f'{D}/err.log', 'a'), start_new_session=True, **kw)
    procs.append(p); return p

def cleanup(*a):
    for p in procs:
        try: os.killpg(p.pid, signal.SIGKILL)
        except Exception: pass
    if a: sys.exit(1)
signal.signal(signal.SIGTERM, cleanup); signal.signal(signal.SIGINT, cleanup)

os.makedirs(D, exist_ok=True)
www = f'{D}/www'; os.makedirs(www, exist_ok=True)
big = f'{www}/1g'
if not os.path.exists(big) or os.path.getsize(big) != 1 << 30:
    subprocess.run(['fallocate', '-l', str(1 << 30), big], check=True)
subprocess.run(['cat', big], stdout=subprocess.DEVNULL, check=True)

O = port_free()
common = f'''daemon off; master_process on; user root; worker_processes 1; worker_rlimit_nofile 65536;
pid {D}/PID.pid; error_log {D}/PID.err crit;
events {{ worker_connections 8192; }}
'''
open(f'{D}/origin.conf', 'w').write(common.replace('PID', 'origin') + f'''http {{ access_log off; default_type application/octet-stream;
 client_body_temp_path {D}/cbt; proxy_temp_path {D}/pt; fastcgi_temp_path {D}/ft; uwsgi_temp_path {D}/ut; scgi_temp_path {D}/st;
 sendfile on; tcp_nopush on; keepalive_timeout 300s;
 server {{ listen 127.0.0.1:{O}; root {www}; location / {{ }} }} }}
''')
orig = start(['nginx', '-p', D, '-e', f'{D}/origin.err', '-c', f'{D}/origin.conf'])
wait_port(O)
time.sleep(0.3)
orig_worker = [p for p in tree(orig.pid) if p != orig.pid][0]

relays = {}  # name -> (port, pid or None, mode)
def sluice(name, binary, extra_env=None):
    p = port_free(); cdir = f'{D}/{name}'; os.makedirs(cdir, exist_ok=True)
    open(f'{cdir}/config.toml', 'w').write(f'[proxy]\nlisten = "127.0.0.1:{p}"\n\n[log]\ndir = "{cdir}/logs"\naccess_log = true\n\n[metrics]\nenabled = true\n')
    env = dict(os.environ, HOME=cdir, XDG_CONFIG_HOME=cdir, XDG_STATE_HOME=cdir, XDG_CACHE_HOME=cdir, **(extra_env or {}))
    pr = start([binary, 'run', '--headless', '--config', f'{cdir}/config.toml', '--listen', f'127.0.0.1:{p}'], env=env)
    wait_port(p); relays[name] = (p, pr.pid, 'proxy')

for spec in os.environ.get('SLUICES', 'sluice=bin/sluice').split(','):
    n, b = spec.split('=')
    sluice(n, b)

if 'fasthttp' not in os.environ.get('SKIP', ''):
    p = port_free(); pr = start([LOADBENCH, 'refproxy', '-listen', f'127.0.0.1:{p}']); wait_port(p)
    relays['fasthttp'] = (p, pr.pid, 'proxy')

if 'relays' not in os.environ.get('SKIP', ''):
    p = port_free()
    open(f'{D}/stream.conf', 'w').write('load_module /usr/lib/nginx/modules/ngx_stream_module.so;\n' + common.replace('PID', 'stream') + f'stream {{ server {{ listen 127.0.0.1:{p}; proxy_pass 127.0.0.1:{O}; }} }}\n')
    pr = start(['nginx', '-p', D, '-e', f'{D}/stream.err', '-c', f'{D}/stream.conf']); wait_port(p); time.sleep(0.3)
    relays['nginx-stream'] = (p, [x for x in tree(pr.pid) if x != pr.pid][0], 'tcp')
    p = port_free()
    open(f'{D}/stream2.conf', 'w').write('load_module /usr/lib/nginx/modules/ngx_stream_module.so;\n' + common.replace('PID', 'stream2') + f'stream {{ proxy_buffer_size 256k; server {{ listen 127.0.0.1:{p}; proxy_pass 127.0.0.1:{O}; }} }}\n')
    pr = start(['nginx', '-p', D, '-e', f'{D}/stream2.err', '-c', f'{D}/stream2.conf']); wait_port(p); time.sleep(0.3)
    relays['nginx-stream-256k'] = (p, [x for x in tree(pr.pid) if x != pr.pid][0], 'tcp')
    for mode, extra in (('splice', []), ('buf', ['-buf', '32768']), ('buf', ['-buf', '262144'])):
        p = port_free(); pr = start([RELAY, '-listen', f'127.0.0.1:{p}', '-to', f'127.0.0.1:{O}', '-mode', mode] + extra); wait_port(p)
        relays['go-' + mode + ('' if not extra else '-' + str(int(extra[1]) // 1024) + 'k')] = (p, pr.pid, 'tcp')
    relays['socat-8k'] = (None, None, 'socat', [])
    relays['socat-128k'] = (None, None, 'socat', ['-b', '131072'])

configs = ['direct']
for n, r in relays.items():
    if r[2] == 'proxy':
        configs += [n + ' GET', n + ' CONNECT']
    else:
        configs.append(n)
if ONLY:
    configs = [c for c in configs if any(o in c for o in ONLY.split(','))]

res = {c: [] for c in configs}
for rnd in range(ROUNDS):
    order = configs[rnd % len(configs):] + configs[:rnd % len(configs)]
    for c in order:
        name = c.split(' ')[0]
        url = f'http://127.0.0.1:{O}/1g'
        args = ['curl', '-sS', '-o', '/dev/null', '-w', '%{http_code} %{size_download} %{speed_download}']
        rpid = None; sp = None
        if c != 'direct':
            r = relays[name]
            if r[2] == 'proxy':
                args += ['-x', f'http://127.0.0.1:{r[0]}']
                if c.endswith('CONNECT'): args.append('--proxytunnel')
                rpid = r[1]
            elif r[2] == 'tcp':
                url = f'http://127.0.0.1:{r[0]}/1g'; rpid = r[1]
            else:
                p = port_free()
                sp = subprocess.Popen(['socat'] + r[3] + [f'TCP-LISTEN:{p},bind=127.0.0.1,reuseaddr', f'TCP:127.0.0.1:{O}'], start_new_session=True)
                wait_port(p)  # note: this connect consumes the one-shot listener
                sp.wait(); 
                sp = subprocess.Popen(['socat'] + r[3] + [f'TCP-LISTEN:{p},bind=127.0.0.1,reuseaddr', f'TCP:127.0.0.1:{O}'], start_new_session=True)
                time.sleep(0.2)
                url = f'http://127.0.0.1:{p}/1g'
        args.append(url)
        c0o = cpu(orig_worker); c0r = cpu(rpid) if rpid else 0; b0 = sysbusy()
        ru0 = os.times(); t0 = time.time()
        out = subprocess.run(args, capture_output=True, text=True)
        el = time.time() - t0
        ru1 = os.times(); b1 = sysbusy()
        curl_cpu = (ru1.children_user - ru0.children_user) + (ru1.children_system - ru0.children_system)
        if sp:
            _, _, ru = os.wait4(sp.pid, 0); relay_cpu = ru.ru_utime + ru.ru_stime
        else:
            relay_cpu = (cpu(rpid) - c0r) if rpid else 0
        f = out.stdout.split()
        if len(f) != 3 or f[0] != '200' or int(float(f[1])) != 1 << 30:
            print('FAIL', c, out.stdout, out.stderr, flush=True); continue
        busy = (b1[0] - b0[0]) / (b1[1] - b0[1]) * 100
        row = dict(mbs=float(f[2]) / 1e6, secs=el, curl=curl_cpu, origin=cpu(orig_worker) - c0o, relay=relay_cpu, busy=busy)
        res[c].append(row)
        print(f'round {rnd+1} {c:22s} {row["mbs"]:7.0f} MB/s  {el:5.2f}s  cpu: curl {curl_cpu:4.2f} origin {row["origin"]:4.2f} relay {relay_cpu:4.2f}  machine busy {busy:3.0f}%', flush=True)

print()
print('| config | MB/s (median) | all rounds | elapsed s | CPU s: curl | origin nginx | relay | sum CPU ÷ elapsed | machine busy |')
print('|---|---:|---|---:|---:|---:|---:|---:|---:|')
dm = statistics.median(r['mbs'] for r in res['direct']) if res.get('direct') else None
for c in configs:
    rs = res[c]
    if not rs: continue
    m = lambda k: statistics.median(r[k] for r in rs)
    tot = m('curl') + m('origin') + m('relay')
    ratio = f' ({m("mbs")/dm:.2f}× direct)' if dm else ''
    print(f'| {c} | {m("mbs"):.0f}{ratio} | {" ".join("%.0f" % r["mbs"] for r in rs)} | {m("secs"):.2f} | {m("curl"):.2f} | {m("origin"):.2f} | {m("relay"):.2f} | {tot/m("secs"):.2f} | {m("busy"):.0f}% |')
json.dump(res, open(f'{D}/res-{int(time.time())}.json', 'w'))
cleanup()
