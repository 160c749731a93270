#!/usr/bin/env bash
# bench_mount.sh - the mount part of `make bench`: the same file and metadata work on the local
# disk, on augur's mount, and on s3fs mounted over augur's own S3 gateway, all in one run.
#
# One augurd (6 dir nodes 4+2 on the bench disk, 256 MiB RAM cache) serves the gateway and the
# mount ([fuse] mountpoint); s3fs mounts a bucket of the same augurd over S3. Measured on each:
# sequential write and read of a 1 GiB file (cold: page cache dropped and, for augur, its RAM
# cache too by a restart; warm: the median of 5 passes right after), random 4 KiB reads, and
# create / stat / unlink of 10,000 small files and `ls -l` of that 10,000-entry directory.
# Prints a table with ratios to the local disk and the targets of the mount issue as PASS/FAIL.
#
# Environment: AUGURD (default build/augurd), AUGUR_BENCH_DIR, BENCH_MOUNT_SIZE_MIB (1024),
# BENCH_MOUNT_FILES (10000), AUGUR_BENCH_KEEP=1 keeps the directory.
# Exit status: 0 whatever the targets say; 1 when the bench cannot run.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
augurd=${AUGURD:-$root/build/augurd}
base=${AUGUR_BENCH_DIR:-/tmp/augur-bench}
size_mib=${BENCH_MOUNT_SIZE_MIB:-1024}
nfiles=${BENCH_MOUNT_FILES:-10000}
PY=/usr/bin/python3
say() { echo "bench_mount.sh: $*" >&2; }

[ "$(id -u)" = 0 ] || { say "needs root (FUSE mounts, dropping caches)"; exit 1; }
command -v s3fs >/dev/null || { say "s3fs is missing: install Debian's package 's3fs'"; exit 1; }
[ -x "$augurd" ] || { say "$augurd is missing: run 'make all' first"; exit 1; }

mkdir -p "$base"
work=$(mktemp -d "$base/mount.XXXXXX")
pid=""
cleanup() {
    for m in "$work/s3fs" "$work/mnt"; do
        grep -qF " $m " /proc/mounts && { fusermount3 -u "$m" 2>/dev/null || umount -l "$m"; }
    done
    [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    if [ "${AUGUR_BENCH_KEEP:-0}" = 1 ]; then say "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$work"/n{1..6} "$work/mnt" "$work/s3fs" "$work/local"
port=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
access=AKBENCHMOUNT01
secret=benchmount0123456789secret
(umask 077 && echo "$access $secret" >"$work/creds" && echo "$access:$secret" >"$work/passwd-s3fs")
cat >"$work/augur.conf" <<EOF
[general]
log_level = warn
state_dir = $work/state
[backend]
nodes = dir:$work/n1, dir:$work/n2,
        dir:$work/n3, dir:$work/n4,
        dir:$work/n5, dir:$work/n6
[gateway]
listen = 127.0.0.1:$port
credentials = $work/creds
[cache]
ram_size = 256M
[fuse]
mountpoint = $work/mnt
EOF

start_augurd() {
    "$augurd" -c "$work/augur.conf" >>"$work/augurd.log" 2>&1 &
    pid=$!
    for _ in $(seq 300); do
        grep -qF " $work/mnt fuse.augur " /proc/mounts &&
            (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    say "augurd did not start:"; tail -n 5 "$work/augurd.log" >&2; exit 1
}
stop_augurd() {
    kill -TERM "$pid"; wait "$pid" 2>/dev/null; pid=""
}
start_augurd
mkdir "$work/mnt/bench" "$work/mnt/s3fsb"
s3fs s3fsb "$work/s3fs" -o url="http://127.0.0.1:$port" -o use_path_request_style \
    -o passwd_file="$work/passwd-s3fs" -o sigv4 -o endpoint=us-east-1 -o nonempty || {
    say "s3fs did not mount"; exit 1; }
for _ in $(seq 100); do grep -qF " $work/s3fs fuse.s3fs " /proc/mounts && break; sleep 0.1; done

# The measurements, by a small Python program: one line "name value" per figure.
cat >"$work/measure.py" <<'EOF'
import os, random, sys, time
MIB = 1 << 20
what, d = sys.argv[1], sys.argv[2]
def timed(fn):
    t = time.monotonic(); fn(); return time.monotonic() - t
def seq_write(path, mib):
    buf = random.Random(1).randbytes(MIB)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    for _ in range(mib): os.write(fd, buf)
    os.fsync(fd); os.close(fd)
def seq_read(path):
    with open(path, "rb", buffering=0) as f:
        while f.read(MIB): pass
def rand_read(path, n=2000):
    size = os.path.getsize(path); rng = random.Random(2)
    fd = os.open(path, os.O_RDONLY)
    for _ in range(n): os.pread(fd, 4096, rng.randrange(size // 4096) * 4096)
    os.close(fd)
    return n
if what == "write":
    mib = int(sys.argv[3]); print("write", mib / timed(lambda: seq_write(d + "/big", mib)))
elif what == "read":
    # the median of several passes: one warm pass of 1 GiB takes a tenth of a second, too
    # short to ride out the noise of a shared machine
    mib = os.path.getsize(d + "/big") / MIB
    rates = sorted(mib / timed(lambda: seq_read(d + "/big")) for _ in range(int(sys.argv[3])))
    print("read", rates[len(rates) // 2])
elif what == "rand":
    t = time.monotonic(); n = rand_read(d + "/big"); print("rand", n / (time.monotonic() - t))
elif what == "meta":
    n = int(sys.argv[3]); os.makedirs(d + "/m", exist_ok=True)
    names = [f"{d}/m/f{i:05d}" for i in range(n)]
    def create():
        for p in names: os.close(os.open(p, os.O_WRONLY | os.O_CREAT, 0o644))
    def stat():
        for p in names: os.stat(p)
    def unlink():
        for p in names: os.unlink(p)
    print("create", n / timed(create))
    time.sleep(1.5)  # past the default 1 s attribute and entry timeouts: stat asks the mount
    print("stat", n / timed(stat))
    t = time.monotonic(); os.system(f"ls -l {d}/m > /dev/null"); print("ls", time.monotonic() - t)
    print("unlink", n / timed(unlink))
EOF
drop() { sync; echo 3 >/proc/sys/vm/drop_caches; }
declare -A R
# run TARGET DIR: every figure for one filesystem into R[TARGET.name]
run() {
    local t=$1 d=$2 line
    say "$t: sequential write"
    line=$($PY "$work/measure.py" write "$d" "$size_mib"); R[$t.write]=${line#* }
    drop
    if [ "$t" = augur ]; then stop_augurd; start_augurd; fi # an empty RAM cache too
    say "$t: sequential read, cold and warm; random 4 KiB reads"
    line=$($PY "$work/measure.py" read "$d" 1); R[$t.cold]=${line#* }
    line=$($PY "$work/measure.py" read "$d" 5); R[$t.warm]=${line#* }
    line=$($PY "$work/measure.py" rand "$d"); R[$t.rand]=${line#* }
    rm -f "$d/big"
    say "$t: create, stat, ls -l and unlink of $nfiles files"
    while read -r k v; do R[$t.$k]=$v; done < <($PY "$work/measure.py" meta "$d" "$nfiles")
}
run local "$work/local"
run augur "$work/mnt/bench"
run s3fs "$work/s3fs"

row() { # row LABEL KEY UNIT
    awk -v l="$1" -v u="$3" -v a="${R[local.$2]}" -v b="${R[augur.$2]}" -v c="${R[s3fs.$2]}" 'BEGIN {
        printf "| %-34s | %10.1f | %10.1f | %10.1f | %6.2fx | %7.2fx |\n", l " (" u ")", a, b, c, b / a, b / c }'
}
echo
echo "mount bench: $("$augurd" --version), 6 dir nodes 4+2, 256 MiB RAM cache; $(s3fs --version 2>&1 | head -n 1); $(nproc) cores"
echo "| measure                            |      local |      augur |       s3fs | aug/loc | aug/s3fs |"
echo "|---|---|---|---|---|---|"
row "seq write ${size_mib} MiB" write "MiB/s"
row "seq read cold" cold "MiB/s"
row "seq read warm" warm "MiB/s"
row "random 4 KiB reads" rand "ops/s"
row "create $nfiles files" create "ops/s"
row "stat $nfiles files" stat "ops/s"
row "unlink $nfiles files" unlink "ops/s"
awk -v a="${R[local.ls]}" -v b="${R[augur.ls]}" -v c="${R[s3fs.ls]}" 'BEGIN {
    printf "| %-34s | %10.3f | %10.3f | %10.3f | %6.2fx | %7.2fx |\n", "ls -l of the directory (s)", a, b, c, b / a, b / c }'
echo
verdict() { awk -v v="$1" -v t="$2" 'BEGIN { print (v >= t ? "PASS" : "FAIL") }'; }
r=$(awk -v a="${R[augur.warm]}" -v b="${R[local.warm]}" 'BEGIN { printf "%.2f", a / b }')
echo "$(verdict "$r" 0.7)  warm sequential read ${r}x the local disk (target >= 0.7x)"
r=$(awk -v a="${R[augur.create]}" -v b="${R[s3fs.create]}" 'BEGIN { printf "%.2f", a / b }')
echo "$(verdict "$r" 5)  small-file create ${r}x s3fs (target >= 5x)"
r=$(awk -v a="${R[augur.stat]}" -v b="${R[s3fs.stat]}" 'BEGIN { printf "%.2f", a / b }')
echo "$(verdict "$r" 5)  small-file stat ${r}x s3fs (target >= 5x)"
exit 0
