#!/usr/bin/env bash
# bench_gateway.sh - the gateway part of `make bench`: augurd beside nginx, same bytes, same run.
#
# Starts augurd (6 dir nodes, 4+2, 16 gateway threads) and nginx (2 workers, access log off,
# static files for GET, the dav module's PUT into a temp dir) as child processes on free
# loopback ports, both with everything under a private directory in $AUGUR_BENCH_DIR (default
# /tmp/augur-bench), runs the load generator build/bench/bench_gateway against both, stops
# both and removes the directory. The load generator prints the table, the ratios and the
# targets of the gateway issue as PASS/FAIL.
#
#   bash tests/bench/bench_gateway.sh [bench_gateway options, e.g. --duration 5 --cells GET-4k-16]
#
# Environment: AUGURD (default build/augurd), BENCH_GATEWAY (default build/bench/bench_gateway),
# NGINX (default: nginx on PATH, else /usr/sbin/nginx), AUGUR_BENCH_DIR, AUGUR_BENCH_KEEP=1
# keeps the directory (and augurd's log) for a look afterwards, AUGUR_BENCH_THREADS sets
# augurd's [gateway] threads (default 16), BENCH_GATEWAY_PAUSE=1 waits for Enter once both
# servers are up (to attach `perf record -g -p PID` to the augurd it names).
# Exit status: 0 whatever the targets say; 1 when the bench cannot run (nginx missing, a server
# that does not start, a failed setup or check pass).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
augurd=${AUGURD:-$root/build/augurd}
client=${BENCH_GATEWAY:-$root/build/bench/bench_gateway}
base=${AUGUR_BENCH_DIR:-/tmp/augur-bench}

say() { echo "bench_gateway.sh: $*" >&2; }

nginx=${NGINX:-}
[ -n "$nginx" ] || nginx=$(command -v nginx || true)
if [ -z "$nginx" ] && [ -x /usr/sbin/nginx ]; then nginx=/usr/sbin/nginx; fi
if [ -z "$nginx" ] || [ ! -x "$nginx" ]; then
    say "nginx not found (${nginx:-not on PATH, not /usr/sbin/nginx}): install Debian's package 'nginx'; the gateway bench compares against it"
    exit 1
fi
for f in "$augurd" "$client"; do
    [ -x "$f" ] || { say "$f is missing: run 'make all build/bench/bench_gateway' first"; exit 1; }
done

mkdir -p "$base"
work=$(mktemp -d "$base/gateway.XXXXXX")
augur_pid=""
nginx_pid=""

stop() { # stop: PID - SIGTERM, then wait up to 10 s, then SIGKILL
    local pid=$1
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    stop "$augur_pid"
    stop "$nginx_pid"
    augur_pid="" nginx_pid=""
    if [ "${AUGUR_BENCH_KEEP:-0}" = 1 ]; then say "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Wait until PORT accepts connections while PID lives; 0 when up.
wait_port() {
    local port=$1 pid=$2
    for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || return 1
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    return 1
}

# ---- nginx ------------------------------------------------------------------------------------
ngx="$work/nginx"
mkdir -p "$ngx/html" "$ngx/tmp/body" "$ngx/tmp/proxy" "$ngx/tmp/fastcgi" "$ngx/tmp/uwsgi" \
    "$ngx/tmp/scgi" "$ngx/logs"
user_line=""
[ "$(id -u)" = 0 ] && user_line="user root;" # workers would otherwise run as nobody
start_nginx() {
    local port=$1
    cat >"$ngx/nginx.conf" <<EOF
$user_line
daemon off;
master_process on;
worker_processes 2;
pid $ngx/nginx.pid;
error_log $ngx/logs/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 120s;
    keepalive_requests 1000000;
    default_type application/octet-stream;
    client_body_temp_path $ngx/tmp/body;
    proxy_temp_path $ngx/tmp/proxy;
    fastcgi_temp_path $ngx/tmp/fastcgi;
    uwsgi_temp_path $ngx/tmp/uwsgi;
    scgi_temp_path $ngx/tmp/scgi;
    server {
        listen 127.0.0.1:$port;
        root $ngx/html;
        location / { }
        location /bench/put/ {
            dav_methods PUT;
            create_full_put_path on;
            client_max_body_size 10m;
        }
    }
}
EOF
    "$nginx" -p "$ngx/" -c "$ngx/nginx.conf" -e "$ngx/logs/error.log" >"$ngx/logs/stdout.log" 2>&1 &
    nginx_pid=$!
    wait_port "$port" "$nginx_pid"
}
nginx_port=""
for _ in 1 2 3 4 5; do # a port found free may be taken before nginx binds it: try another
    port=$("$client" --free-port)
    if start_nginx "$port"; then nginx_port=$port; break; fi
    stop "$nginx_pid"
    nginx_pid=""
done
if [ -z "$nginx_port" ]; then
    say "nginx did not start; its log:"
    tail -n 20 "$ngx/logs/error.log" "$ngx/logs/stdout.log" >&2 || true
    exit 1
fi

# ---- augurd -----------------------------------------------------------------------------------
aug="$work/augur"
mkdir -p "$aug/state" "$aug"/n{1,2,3,4,5,6}
access=AKIABENCHGATEWAY0001
secret=bench/Gateway+Secret/0123456789abcdefghijk
(umask 077 && printf '%s %s\n' "$access" "$secret" >"$aug/creds")
chmod 600 "$aug/creds"
augur_threads=${AUGUR_BENCH_THREADS:-16}
start_augurd() {
    local port=$1
    cat >"$aug/augur.conf" <<EOF
[general]
log_level = warn
state_dir = $aug/state
[backend]
nodes = dir:$aug/n1,
    dir:$aug/n2,
    dir:$aug/n3,
    dir:$aug/n4,
    dir:$aug/n5,
    dir:$aug/n6
[gateway]
listen = 127.0.0.1:$port
credentials = $aug/creds
threads = $augur_threads
EOF
    # one access line per request goes to stderr: to a file, as under a service manager
    "$augurd" -c "$aug/augur.conf" >"$aug/augurd.log" 2>&1 &
    augur_pid=$!
    wait_port "$port" "$augur_pid"
}
augur_port=""
for _ in 1 2 3 4 5; do
    port=$("$client" --free-port)
    if start_augurd "$port"; then augur_port=$port; break; fi
    stop "$augur_pid"
    augur_pid=""
done
if [ -z "$augur_port" ]; then
    say "augurd did not start; its log:"
    tail -n 20 "$aug/augurd.log" >&2 || true
    exit 1
fi

nginx_version=$("$nginx" -v 2>&1 | sed 's/^nginx version: //')
echo "gateway bench: $("$augurd" --version) (pid $augur_pid, port $augur_port, $augur_threads threads," \
    "6 dir nodes 4+2) vs $nginx_version (pid $nginx_pid, port $nginx_port, 2 workers," \
    "sendfile, dav PUT); $(nproc) cores; files under $work"
if [ -n "${BENCH_GATEWAY_PAUSE:-}" ]; then # for profiling by hand: servers up, bench waits
    echo "BENCH_GATEWAY_PAUSE: augurd pid $augur_pid; press Enter to go on" >&2
    read -r _ || true
fi

status=0
"$client" --augur-port "$augur_port" --nginx-port "$nginx_port" --nginx-root "$ngx/html" \
    --augur-pid "$augur_pid" --nginx-pid "$nginx_pid" --access "$access" --secret "$secret" \
    "$@" || status=$?
if ! kill -0 "$augur_pid" 2>/dev/null; then
    say "augurd died during the bench; the end of its log:"
    tail -n 20 "$aug/augurd.log" >&2 || true
    status=1
fi
if [ "$status" -ne 0 ]; then
    say "the bench failed (status $status); the end of augurd's log (access lines skipped):"
    grep -v ' access ' "$aug/augurd.log" | tail -n 20 >&2 || true
fi
# anything augurd said besides access lines and its start-up line is worth a look
other=$(grep -v -e ' access ' -e 'Ctrl-C stops' "$aug/augurd.log" || true)
if [ -n "$other" ]; then
    say "augurd logged $(printf '%s\n' "$other" | wc -l) other line(s); the first:"
    printf '%s\n' "$other" | head -n 5 >&2
fi
exit "$status"
