#!/bin/bash
# run_fuse_workload.sh - the mount under real work, on real mounts: one augurd serving the S3
# gateway and the mount ([fuse] mountpoint) over one cache, used by concurrent readers and
# writers, a source tree unpacked and checksummed, S3 clients (boto3, aws) on the other side,
# `augur status` and /metrics counting staged writes, and SIGKILL with writes still staged
# (uploaded by the next start); then `augur mount` (optimised build) writing and reading a
# 2 GiB file with bounded memory, and listing a directory of 100,000 entries.
#
#   AUGURD_BIN=build/asan/augurd AUGUR_BIN=build/asan/augur AUGUR_REL_BIN=build/augur \
#       bash tests/fuse/run_fuse_workload.sh
#
# Prints one line per check and ends with "N passed, M failed"; exits 1 if any check failed.
# Skipped (exit 0) without root or a usable /dev/fuse. Every daemon and mount it starts is
# stopped on exit, also after a failure.
set -u

AUGURD_BIN=${AUGURD_BIN:-build/asan/augurd}
AUGUR_BIN=${AUGUR_BIN:-build/asan/augur}
AUGUR_REL_BIN=${AUGUR_REL_BIN:-build/augur}
PY=/usr/bin/python3
AWS=/usr/bin/aws
HERE=$(cd "$(dirname "$0")" && pwd)
WL="$PY $HERE/fuse_workload.py"
TMP_BASE=${AUGUR_TEST_TMP:-/tmp}
mkdir -p "$TMP_BASE"
T=$(mktemp -d "$TMP_BASE/fuse-wl.XXXXXX") || exit 1
T=$(cd "$T" && pwd)
MNT=$T/mnt
# the 100,000-entry directory lives on a one-node store in memory when there is one: the
# listing is what is tested, not the disk's fsync rate
SHM=""
[ -d /dev/shm ] && [ -w /dev/shm ] && SHM=$(mktemp -d /dev/shm/augur-wl.XXXXXX)
MANY=${SHM:-$T/many}
LOG=$T/augurd.log
unset AUGUR_CONF
export BOTO_DISABLE_CRT=true

. "$HERE/../cli/cli_lib.sh"

daemon=""
rc=0 # the status a failing check reports, for checks that run no command through run()
# stop PID: SIGTERM, then SIGKILL after 60 s.
stop_pid() {
    local pid=$1
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
}
# The pid of the `augur mount` process serving mountpoint $1, from its pid file.
mount_pid() {
    local f
    for f in /run/augur/mount-*.pid; do
        [ -f "$f" ] && sed -n 2p "$f" | grep -qxF "$1" && { head -n 1 "$f"; return; }
    done
}
unmount_all() {
    local m
    for m in "$MNT" "$T/big/mnt" "$MANY/mnt"; do
        [ -n "$(mount_pid "$m")" ] && kill -TERM "$(mount_pid "$m")" 2>/dev/null
        if grep -qF " $m " /proc/mounts 2>/dev/null; then
            fusermount3 -u -z "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
        fi
    done
}
cleanup() {
    stop_pid "$daemon"
    unmount_all
    [ -n "$SHM" ] && rm -rf "$SHM"
    if [ "${failed:-0}" -eq 0 ]; then rm -rf "$T"; else echo "kept $T for a look (log: $LOG)"; fi
}
trap cleanup EXIT

if [ "$(id -u)" -ne 0 ] || ! [ -c /dev/fuse ] || ! (exec 3<>/dev/fuse) 2>/dev/null; then
    echo "skipped: needs root and a usable /dev/fuse"
    exit 0
fi
for b in "$AUGURD_BIN" "$AUGUR_BIN" "$AUGUR_REL_BIN"; do
    if [ ! -x "$b" ]; then
        echo "FAIL  $b is not an executable (build it, or set AUGURD_BIN/AUGUR_BIN/AUGUR_REL_BIN)"
        echo "0 passed, 1 failed"
        exit 1
    fi
done

free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
mounted() { grep -qF " $1 fuse.augur " /proc/mounts; }
quiet_log() { ! grep -qE "AddressSanitizer|LeakSanitizer|runtime error:" "$1" 2>/dev/null; }

for i in 1 2 3 4 5 6; do mkdir -p "$T/n$i"; done
mkdir -p "$MNT"
S3_PORT=$(free_port)
ADMIN_PORT=$(free_port)
ACCESS=AKWORKLOAD0001
SECRET=workload/Secret+0123456789abcdef
(umask 077 && echo "$ACCESS $SECRET" >"$T/creds" && echo "workload-admin-token-0123456789" >"$T/token")
CONF=$T/augur.conf
cat >"$CONF" <<EOF
[general]
log_level = warn
state_dir = $T/state
[backend]
nodes = dir:$T/n1, dir:$T/n2,
        dir:$T/n3, dir:$T/n4,
        dir:$T/n5, dir:$T/n6
inline_max = 4K
stripe_size = 256K
[gateway]
listen = 127.0.0.1:$S3_PORT
credentials = $T/creds
[admin]
listen = 127.0.0.1:$ADMIN_PORT
token_file = $T/token
[cache]
ram_size = 64M
[fuse]
mountpoint = $MNT
EOF

# Start augurd and wait for the gateway and the mount; 0 when both are up.
start_daemon() {
    ASAN_OPTIONS=detect_leaks=1 "$AUGURD_BIN" -c "$CONF" >>"$LOG" 2>&1 &
    daemon=$!
    for _ in $(seq 300); do
        kill -0 "$daemon" 2>/dev/null || return 1
        mounted "$MNT" && (exec 3<>"/dev/tcp/127.0.0.1/$S3_PORT") 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}
# Helpers for the checks below, exported so that `bash -c` sees them.
s3() { AWS_ACCESS_KEY_ID=$ACCESS AWS_SECRET_ACCESS_KEY=$SECRET AWS_DEFAULT_REGION=us-east-1 \
    "$AWS" --endpoint-url "http://127.0.0.1:$S3_PORT" "$@"; }
# staged FIELD: files or bytes of "staged_writes" in augur status --json
staged() { "$AUGUR_BIN" -c "$CONF" status --json |
    $PY -c "import json,sys; print(json.load(sys.stdin)['staged_writes']['$1'])"; }
metrics() { curl -s -H "Authorization: Bearer $(cat "$T/token")" "http://127.0.0.1:$ADMIN_PORT/metrics"; }
# metric NAME: the value of an unlabelled sample
metric() { metrics | awk -v m="$1" '$1 == m {print $2}'; }
export ACCESS SECRET AWS S3_PORT ADMIN_PORT AUGUR_BIN CONF PY T
export -f s3 staged metrics metric

B=$MNT/work
section "augurd serving the gateway and the mount"
check "augurd starts with [fuse] mountpoint set" start_daemon
check "mkdir at the top of the mount makes a bucket" mkdir "$B"

section "concurrent readers and writers"
check "4 writer and 4 reader processes at once, every byte verified" $WL concurrent "$B/conc"

section "S3 and the mount, both ways"
check "boto3: objects put over S3 read through the mount, files written there read over S3" \
    $WL s3 "http://127.0.0.1:$S3_PORT" "$ACCESS" "$SECRET" work "$B"
printf 'written by the aws cli\n' >"$T/cli.txt"
check "aws s3 cp in, cmp through the mount" bash -c "s3 s3 cp '$T/cli.txt' s3://work/cli/x.txt >/dev/null && cmp '$T/cli.txt' '$B/cli/x.txt'"
check "cp in through the mount, aws s3 cp out" bash -c "cp '$T/cli.txt' '$B/cli/y.txt' && s3 s3 cp s3://work/cli/y.txt - | cmp - '$T/cli.txt'"

section "close uploads in the background; S3 and fsync still see what was written"
check "200 files closed are each seen at once over S3 (HEAD, GET, LIST); unlinked, renamed, or put or deleted over S3 right after close, they never come back" \
    $WL closed "http://127.0.0.1:$S3_PORT" "$ACCESS" "$SECRET" work "$B" 200
# fsync is the durability point: the store has the bytes when it returns, before any upload
# in the background or recovery at the next start could have put them there
$PY - "$B/fsynced.txt" "$T/fsynced.ready" <<'EOF2' &
import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, b"durable once fsync returns\n")
os.fsync(fd)
open(sys.argv[2], "w").close()
time.sleep(60)
EOF2
syncer=$!
for _ in $(seq 200); do [ -e "$T/fsynced.ready" ] && break; sleep 0.02; done
kill -KILL "$daemon"
wait "$daemon" 2>/dev/null
daemon=""
kill "$syncer" 2>/dev/null
wait "$syncer" 2>/dev/null
fusermount3 -u -z "$MNT" 2>/dev/null || umount -l "$MNT"
check "SIGKILL right after fsync returns: the store already has the file" \
    bash -c "[ \"\$('$AUGUR_BIN' -c '$CONF' get work/fsynced.txt -)\" = 'durable once fsync returns' ]"
check "  augurd starts again" start_daemon
check "  the file reads back through the mount" bash -c "[ \"\$(cat '$B/fsynced.txt')\" = 'durable once fsync returns' ]"

section "a source tree (/usr/include) unpacked, checksummed and compared"
# three libraries' headers: enough files to be a real tree, few enough to take seconds
SRC_DIRS="openssl libxml2 fuse3"
tar -C /usr/include -cf "$T/src.tar" $SRC_DIRS
nfiles=$(tar -tf "$T/src.tar" | grep -vc '/$')
mkdir -p "$B/src"
start=$(date +%s)
check "tar -x of $nfiles files onto the mount" tar -C "$B/src" -xf "$T/src.tar"
echo "      (took $(( $(date +%s) - start )) s)"
check "  sha256sum of every file matches the original" bash -c "diff <(cd /usr/include && find $SRC_DIRS -type f -exec sha256sum {} + | LC_ALL=C sort) <(cd '$B/src' && find $SRC_DIRS -type f -exec sha256sum {} + | LC_ALL=C sort)"
check "  names, types, modes and link targets match" bash -c "diff <(cd /usr/include && find $SRC_DIRS -printf '%y %m %p -> %l\n' | LC_ALL=C sort) <(cd '$B/src' && find $SRC_DIRS -printf '%y %m %p -> %l\n' | LC_ALL=C sort)"
cat >"$T/prog.c" <<'EOF'
#include <libxml/xmlversion.h>
#include <openssl/opensslv.h>
#include <stdio.h>
int main(void) { printf("%s %d\n", LIBXML_DOTTED_VERSION, OPENSSL_VERSION_MAJOR); return 0; }
EOF
check "  a program builds with the headers on the mount, and runs" bash -c "gcc -I'$B/src' -I'$B/src/libxml2' -o '$T/prog' '$T/prog.c' && gcc -I'$B/src' -I'$B/src/libxml2' -M '$T/prog.c' | grep -qF '$B/src/openssl/opensslv.h' && [ \"\$('$T/prog')\" = \"\$(gcc -I/usr/include/libxml2 -o '$T/prog2' '$T/prog.c' && '$T/prog2')\" ]"

section "staged writes in augur status and /metrics"
$PY - "$B/held.bin" "$T/held.ready" <<'EOF' &
import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, b"s" * 300000)
open(sys.argv[2], "w").close()
time.sleep(120)
EOF
holder=$!
for _ in $(seq 100); do [ -e "$T/held.ready" ] && break; sleep 0.05; done
check "augur status --json counts a file open with unsaved bytes" bash -c "[ \$(staged files) = 1 ] && [ \$(staged bytes) = 300000 ]"
check "  augur status says it in words" bash -c "'$AUGUR_BIN' -c '$CONF' status | grep -q 'mount staged writes: 1 file(s)'"
check "  /metrics has augur_fuse_staged_files 1 and its bytes" bash -c "[ \"\$(metric augur_fuse_staged_files)\" = 1 ] && [ \"\$(metric augur_fuse_staged_bytes)\" = 300000 ]"
if command -v promtool >/dev/null; then
    check "  /metrics passes promtool check metrics" bash -c "metrics | promtool check metrics"
fi

section "SIGKILL with writes staged, then a restart"
# the holder still has held.bin open with 300000 unsaved bytes; a second file is closed while
# three of six nodes are away: close succeeds (the upload is in the background), the upload
# fails for want of a write quorum, and the file is kept, counted and retried
$PY - "$B/failed.txt" "$T/failed.ready" "$T/failed.go" <<'EOF' &
import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, b"failed upload, kept staged\n")
open(sys.argv[2], "w").close()
while not os.path.exists(sys.argv[3]):
    time.sleep(0.05)
os.close(fd)
EOF
closer=$!
printf 'failed upload, kept staged\n' >"$T/failed.txt"
for _ in $(seq 100); do [ -e "$T/failed.ready" ] && break; sleep 0.05; done
for i in 1 2 3; do mv "$T/n$i" "$T/n$i.away"; done
touch "$T/failed.go"
wait "$closer"
check "with three nodes away, close still returns 0" test "$?" -eq 0
check "  the failed upload is counted in augur status and /metrics (2 files staged)" \
    bash -c "for i in \$(seq 100); do [ \$(staged files) = 2 ] && [ \"\$(metric augur_fuse_staged_files)\" = 2 ] && exit 0; sleep 0.1; done; exit 1"
check "  S3 does not wait for it forever: GET answers within 10 s" \
    bash -c "timeout 10 bash -c \"s3 s3api head-object --bucket work --key failed.txt >/dev/null 2>&1; exit 0\""
kill -KILL "$daemon"
wait "$daemon" 2>/dev/null
daemon=""
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null
for i in 1 2 3; do mv "$T/n$i.away" "$T/n$i"; done
fusermount3 -u -z "$MNT" 2>/dev/null || umount -l "$MNT"
check "the staging directory kept both files with their notes" bash -c "[ \$(ls '$T/state/fuse-staging'/*.stage.key | wc -l) -ge 2 ]"
check "augurd starts again" start_daemon
check "  the file open at SIGKILL is in the store, all 300000 bytes" bash -c "[ \"\$(s3 s3 cp s3://work/held.bin - | wc -c)\" = 300000 ] && [ \"\$(tr -d s < '$B/held.bin' | wc -c)\" = 0 ]" 
check "  the file whose upload had failed too" cmp "$T/failed.txt" "$B/failed.txt"
check "  and the staging directory is empty" bash -c "[ -z \"\$(ls -A '$T/state/fuse-staging')\" ]"
check "  augur status counts no staged writes" bash -c "[ \$(staged files) = 0 ]"
check "augurd stops on SIGTERM" bash -c "kill -TERM $daemon && for i in \$(seq 600); do kill -0 $daemon 2>/dev/null || exit 0; sleep 0.1; done; exit 1"
wait "$daemon" 2>/dev/null
daemon=""
check "  and unmounts" bash -c "! grep -qF ' $MNT ' /proc/mounts"
check "augurd's log has no sanitizer report" quiet_log "$LOG"

section "a 2 GiB file through augur mount (optimised build), memory bounded"
BIG=$T/big
mkdir -p "$BIG/mnt"
cat >"$BIG/augur.conf" <<EOF
[general]
log_level = warn
state_dir = $BIG/state
[backend]
nodes = dir:$T/n1, dir:$T/n2,
        dir:$T/n3, dir:$T/n4,
        dir:$T/n5, dir:$T/n6
[cache]
ram_size = 64M
EOF
check "augur mount" "$AUGUR_REL_BIN" mount "$BIG/mnt" -c "$BIG/augur.conf" --log "$BIG/log"
bigpid=$(mount_pid "$BIG/mnt")
start=$(date +%s)
want=$($WL bigwrite "$BIG/mnt/work/big.bin" 2)
got=$($WL bigread "$BIG/mnt/work/big.bin")
echo "      (write and read back took $(( $(date +%s) - start )) s)"
check "2 GiB written sequentially reads back with the same sha256" test -n "$want" -a "$want" = "$got"
check "  the store has all of it" bash -c "[ \"\$('$AUGUR_REL_BIN' -c '$BIG/augur.conf' stat work/big.bin | awk '/^size/ {print \$2}')\" = 2147483648 ]"
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$bigpid/status" 2>/dev/null)
echo "      (peak RSS of the mount's process: $(( ${hwm:-0} / 1024 )) MiB)"
check "  the mount's peak RSS stays under 512 MiB" test "${hwm:-999999999}" -lt $((512 * 1024))
rm -f "$BIG/mnt/work/big.bin"
check "augur umount" "$AUGUR_REL_BIN" umount "$BIG/mnt"

section "a directory of 100,000 entries"
mkdir -p "$MANY/n1" "$MANY/mnt"
cat >"$MANY/augur.conf" <<EOF
[general]
log_level = warn
state_dir = $MANY/state
[backend]
data_shards = 1
parity_shards = 0
nodes = dir:$MANY/n1
[cache]
ram_size = 64M
EOF
check "augur mount (one node in memory)" "$AUGUR_REL_BIN" mount "$MANY/mnt" -c "$MANY/augur.conf" --log "$MANY/log"
mkdir "$MANY/mnt/many"
start=$(date +%s)
check "create 100,000 files over the mount (8 threads)" $WL many "$MANY/mnt/many/d" 100000
echo "      (took $(( $(date +%s) - start )) s)"
start=$(date +%s%N)
count=$(ls "$MANY/mnt/many/d" | wc -l)
ms=$(( ($(date +%s%N) - start) / 1000000 ))
echo "      (ls | wc -l: $count entries in $ms ms)"
check "ls | wc -l counts 100000" test "$count" = 100000
check "  in under 60 s" test "$ms" -lt 60000
check "augur umount" "$AUGUR_REL_BIN" umount "$MANY/mnt"

finish
