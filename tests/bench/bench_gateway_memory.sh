#!/usr/bin/env bash
# bench_gateway_memory.sh - memory of augurd while a 5 GiB object goes through the S3 gateway
# (PUT with curl's SigV4 signer, then GET): bodies are streamed, so the daemon's peak RSS must
# stay bounded by a few stripes per request, not grow with the object.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
augurd=${AUGURD:-$root/build/augurd}
base=${AUGUR_BENCH_DIR:-/tmp/augur-bench}
size=${AUGUR_BENCH_BIG:-5G}
mkdir -p "$base"
work=$(mktemp -d "$base/gwmem.XXXXXX")
pid=""
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work"/n{1..6}
printf 'AKMEM memsecret0123456789\n' > "$work/creds"
chmod 600 "$work/creds"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/augur.conf" <<CONF
[general]
log_level = warn
state_dir = $work/state
[backend]
nodes = dir:$work/n1, dir:$work/n2, dir:$work/n3,
        dir:$work/n4, dir:$work/n5, dir:$work/n6
[gateway]
listen = 127.0.0.1:$port
credentials = $work/creds
[cache]
ram_size = 64M
CONF
"$augurd" -c "$work/augur.conf" 2> "$work/augurd.log" &
pid=$!
for _ in $(seq 100); do
    curl -s -o /dev/null "http://127.0.0.1:$port/" && break
    sleep 0.1
done
s3() {
    curl -sS --fail-with-body --aws-sigv4 "aws:amz:us-east-1:s3" --user AKMEM:memsecret0123456789 \
        -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$@"
}
rss_kib() { awk '/VmHWM/ {print $2}' "/proc/$pid/status"; }
s3 -X PUT "http://127.0.0.1:$port/big" -o /dev/null
base_rss=$(rss_kib)
truncate -s "$size" "$work/source"
t0=$(date +%s.%N)
s3 -T "$work/source" "http://127.0.0.1:$port/big/object" -o /dev/null
t1=$(date +%s.%N)
put_rss=$(rss_kib)
s3 "http://127.0.0.1:$port/big/object" -o /dev/null
t2=$(date +%s.%N)
get_rss=$(rss_kib)
bytes=$(stat -c %s "$work/source")
awk -v b="$bytes" -v base="$base_rss" -v p="$put_rss" -v g="$get_rss" -v t0="$t0" -v t1="$t1" \
    -v t2="$t2" 'BEGIN {
    printf "object %.1f GiB through the gateway (4+2 over 6 dir nodes, cache RAM 64 MiB)\n", b / 2^30
    printf "  augurd peak RSS before: %6.1f MiB\n", base / 1024
    printf "  after PUT:              %6.1f MiB   (PUT %.0f MiB/s)\n", p / 1024, b / 2^20 / (t1 - t0)
    printf "  after GET:              %6.1f MiB   (GET %.0f MiB/s)\n", g / 1024, b / 2^20 / (t2 - t1)
    printf "  %s  peak RSS stays under 256 MiB while a %.1f GiB body streams through\n",
        (g < 256 * 1024 ? "PASS" : "FAIL"), b / 2^30
}'
