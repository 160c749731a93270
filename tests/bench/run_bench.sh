#!/usr/bin/env bash
# run_bench.sh - `make bench`: every benchmark in one run, each printing its figures beside a
# baseline measured in the same run (plain files, nginx, ...), with PASS/FAIL for the targets.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export AUGUR_BENCH_DIR=${AUGUR_BENCH_DIR:-$root/build/benchdir}
mkdir -p "$AUGUR_BENCH_DIR"
status=0

section() { printf '\n==== %s ====\n' "$*"; }

section "backend: erasure-coded PUT/GET against plain files"
"$root/build/bench/bench_backend" || status=1

section "cache: hit latency per tier and miss latency"
mkdir -p "$AUGUR_BENCH_DIR" # the backend bench removes its directory when it is done
redis_dir=$(mktemp -d "$AUGUR_BENCH_DIR/redis.XXXXXX")
redis-server --port 0 --unixsocket "$redis_dir/redis.sock" --save "" --appendonly no \
    --daemonize no > "$redis_dir/log" 2>&1 &
redis_pid=$!
for _ in $(seq 50); do [ -S "$redis_dir/redis.sock" ] && break; sleep 0.1; done
AUGUR_BENCH_REDIS="unix://$redis_dir/redis.sock" "$root/build/bench/bench_cache" || status=1
kill "$redis_pid" 2>/dev/null; wait "$redis_pid" 2>/dev/null
rm -rf "$redis_dir"

section "cache: trace replay throughput per policy (one core)"
trace="$root/../shared/traces/arc_oltp.csv.zst"
if [ -f "$trace" ]; then
    "$root/build/augur" trace replay --trace "$trace" --size 1%,10% \
        --policy lru,fifo,s3fifo,sieve,arc,belady || status=1
else
    echo "skipped: $trace not found"
fi

section "predictor: observe() on the request path, and the accesses/s its thread absorbs"
"$root/build/bench/bench_predictor" || status=1
if [ -x "$root/build/bench/bench_lstm" ]; then
    section "predictor: the LSTM shim's step, score and training costs"
    "$root/build/bench/bench_lstm" || status=1
fi

section "predictor: learned with prefetch against lru, s3fifo, sieve, arc and belady"
models=markov
if [ "${BENCH_LSTM_REPLAY:-1}" = 1 ] && [ -e "$root/build/liblstm_shim.so" ]; then
    models="markov lstm" # about 10 minutes on 2 cores: the LSTM steps on every request
fi
/usr/bin/python3 "$root/tests/bench/bench_predictor.py" "$root/build/augur" \
    "$root/../shared/traces" "$root/build/bench" $models || status=1

section "gateway: S3 GET/PUT against nginx serving the same bytes"
bash "$root/tests/bench/bench_gateway.sh" || status=1

section "gateway: memory while a 5 GiB object streams through"
bash "$root/tests/bench/bench_gateway_memory.sh" || status=1

section "mount: local disk, augur's mount and s3fs over augur's gateway"
bash "$root/tests/bench/bench_mount.sh" || status=1

exit $status
