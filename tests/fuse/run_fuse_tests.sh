#!/bin/bash
# run_fuse_tests.sh - `augur mount` and `augur umount` with ordinary shell tools on a real FUSE
# mount over a scratch 6-node cluster: files and directories made with mkdir, cp, mv, rm, ln,
# touch, chmod, truncate; a tarball unpacked onto the mount and compared with its source; files
# seen from the store side (augur get/put); persistence across a remount; busy unmounts; SIGTERM
# uploading files still open. Every mount is unmounted on exit, also after a failure.
#
#   AUGUR_BIN=build/asan/augur bash tests/fuse/run_fuse_tests.sh
#
# Prints one line per check and ends with "N passed, M failed"; exits 1 if any check failed.
# Skipped (exit 0) without root or a usable /dev/fuse.
set -u

AUGUR_BIN=${AUGUR_BIN:-build/asan/augur}
TMP_BASE=${AUGUR_TEST_TMP:-/tmp}
mkdir -p "$TMP_BASE"
T=$(mktemp -d "$TMP_BASE/fuse.XXXXXX") || exit 1
MNT=$T/mnt
LOG=$T/mount.log
unset AUGUR_CONF

. "$(dirname "$0")/../cli/cli_lib.sh"

cleanup() {
    # a mount left by a failed check must not outlive the test
    if grep -qF " $MNT " /proc/mounts 2>/dev/null; then
        fusermount3 -u -z "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null
    fi
    for f in /run/augur/mount-*.pid; do
        [ -f "$f" ] && grep -qxF "$MNT" "$f" 2>/dev/null && kill -TERM "$(head -n 1 "$f")" 2>/dev/null
    done
    if [ "${failed:-0}" -eq 0 ]; then rm -rf "$T"; else echo "kept $T for a look (mount log: $LOG)"; fi
}
trap cleanup EXIT

if [ "$(id -u)" -ne 0 ] || ! [ -c /dev/fuse ] || ! (exec 3<>/dev/fuse) 2>/dev/null; then
    echo "skipped: needs root and a usable /dev/fuse"
    exit 0
fi
if [ ! -x "$AUGUR_BIN" ]; then
    echo "FAIL  $AUGUR_BIN is not an executable (build it, or set AUGUR_BIN)"
    echo "0 passed, 1 failed"
    exit 1
fi

for i in 1 2 3 4 5 6; do mkdir "$T/n$i"; done
mkdir "$MNT"
CONF=$T/augur.conf
cat >"$CONF" <<EOF
[general]
log_level = warn
state_dir = $T/state

[backend]
data_shards = 4
parity_shards = 2
nodes = dir:$T/n1, dir:$T/n2, dir:$T/n3,
        dir:$T/n4, dir:$T/n5, dir:$T/n6
inline_max = 1K
stripe_size = 64K

[cache]
ram_size = 64M

[fuse]
attr_timeout = 1s
entry_timeout = 1s
EOF

A() { "$AUGUR_BIN" -c "$CONF" "$@"; }
mounted() { grep -qF " $MNT fuse.augur " /proc/mounts; }
do_mount() { "$AUGUR_BIN" mount "$MNT" -c "$CONF" --log "$LOG" "$@"; }
# The pid of the process serving $MNT, from its pid file.
server_pid() {
    local f
    for f in /run/augur/mount-*.pid; do
        [ -f "$f" ] && sed -n 2p "$f" | grep -qxF "$MNT" && { head -n 1 "$f"; return; }
    done
}
# eventually CMD...: CMD succeeds within 10 s. close() hands uploads to the background, so the
# store (read here by augur get/stat, not through the mount's process) has a closed file soon
# after, not at once; fsync, umount and SIGTERM are the points where it has it at once.
eventually() {
    local i
    for i in $(seq 100); do "$@" 2>/dev/null && return 0; sleep 0.1; done
    "$@"
}
# True when the mount's log holds no sanitizer report.
quiet_log() { ! grep -qE "AddressSanitizer|LeakSanitizer|runtime error:" "$LOG" 2>/dev/null; }

B=$MNT/bkt

section "mount"
run "$AUGUR_BIN" mount "$T/augur.conf" -c "$CONF"
expect_fail 1 "mount on a file"
run "$AUGUR_BIN" mount "$MNT" -c "$CONF" -o no_such_option
expect_fail 1 "mount with an unknown -o option"
check "  nothing is mounted after the failures" bash -c "! grep -qF ' $MNT ' /proc/mounts"
run do_mount
expect_ok "augur mount returns once the mount is ready"
check "  the mount is listed as fuse.augur" mounted
check "  the top level is an empty directory" bash -c "[ -z \"\$(ls -A '$MNT')\" ]"

section "buckets and directories"
check "mkdir at the top creates a bucket" mkdir "$B"
check "  the bucket is in the store" bash -c "'$AUGUR_BIN' -c '$CONF' ls | grep -q ' bkt\$'"
check "mkdir -p makes nested directories" mkdir -p "$B/a/b/c"
check "  an empty directory is kept as a marker key" bash -c "'$AUGUR_BIN' -c '$CONF' stat bkt/a/b/c/ >/dev/null"
check "rmdir of a non-empty directory fails" bash -c "! rmdir '$B/a' 2>/dev/null"
check "rmdir of an empty directory works" rmdir "$B/a/b/c"
check "  its parent stays" test -d "$B/a/b"
check "mkdir of an invalid bucket name fails" bash -c "! mkdir '$MNT/Bad_Name' 2>/dev/null"

section "files with shell tools"
head -c 300000 /dev/urandom >"$T/rand.bin"
printf 'hello, augur\n' >"$T/small.txt"
check "cp a file in" cp "$T/rand.bin" "$B/a/rand.bin"
check "  cmp reads it back" cmp "$T/rand.bin" "$B/a/rand.bin"
check "  the store has it soon after close" eventually bash -c "'$AUGUR_BIN' -c '$CONF' get bkt/a/rand.bin - | cmp - '$T/rand.bin'"
check "cat > a new file" bash -c "cat '$T/small.txt' > '$B/small.txt'"
check "  ls -l shows size and mode" bash -c "ls -l '$B/small.txt' | grep -q '^-rw-r--r-- 1 root root 13 '"
check "echo >> appends" bash -c "echo more >> '$B/small.txt' && [ \"\$(tail -n 1 '$B/small.txt')\" = more ]"
check "touch creates an empty file" bash -c "touch '$B/empty' && [ -f '$B/empty' ] && [ ! -s '$B/empty' ]"
check "touch -d sets the mtime" bash -c "touch -d '2020-01-02 03:04:05 UTC' '$B/empty' && [ \"\$(stat -c %Y '$B/empty')\" = 1577934245 ]"
check "chmod is kept" bash -c "chmod 640 '$B/small.txt' && [ \"\$(stat -c %a '$B/small.txt')\" = 640 ]"
check "  the mode is in the store" eventually bash -c "'$AUGUR_BIN' -c '$CONF' stat bkt/small.txt | grep -q 'mode: *100640'"
check "chown is kept" bash -c "chown 1234:4321 '$B/small.txt' && [ \"\$(stat -c %u:%g '$B/small.txt')\" = 1234:4321 ]"
check "truncate shrinks" bash -c "truncate -s 5 '$B/small.txt' && [ \"\$(stat -c %s '$B/small.txt')\" = 5 ] && [ \"\$(cat '$B/small.txt')\" = hello ]"
check "truncate grows with zeros" bash -c "truncate -s 8 '$B/small.txt' && [ \"\$(od -An -c '$B/small.txt' | tr -d ' ')\" = 'hello\\0\\0\\0' ]"
cp "$T/rand.bin" "$T/model.bin"
for off in 10 70000 299990 400000; do
    printf 'PATCHED!' | dd of="$T/model.bin" bs=1 seek=$off conv=notrunc status=none
    printf 'PATCHED!' | dd of="$B/a/rand.bin" bs=1 seek=$off conv=notrunc status=none
done
check "dd writes in place (random writes, a hole past the end)" cmp "$T/model.bin" "$B/a/rand.bin"
check "mv renames a file" bash -c "mv '$B/a/rand.bin' '$B/moved.bin' && [ ! -e '$B/a/rand.bin' ] && cmp '$T/model.bin' '$B/moved.bin'"
check "mv renames a directory with everything below it" bash -c "mv '$B/a' '$B/a2' && [ -d '$B/a2/b' ] && [ ! -e '$B/a' ]"
check "ln -s makes a symbolic link" bash -c "ln -s ../moved.bin '$B/a2/link' && [ \"\$(readlink '$B/a2/link')\" = ../moved.bin ] && cmp '$T/model.bin' '$B/a2/link'"
check "ln (a hard link) is refused" bash -c "! ln '$B/moved.bin' '$B/hard' 2>/dev/null"
check "rm removes a file" bash -c "rm '$B/moved.bin' && [ ! -e '$B/moved.bin' ] && ! '$AUGUR_BIN' -c '$CONF' stat bkt/moved.bin 2>/dev/null"
check "df shows the store's capacity" bash -c "df -P '$MNT' | tail -n 1 | awk '{exit !(\$2 > 0)}'"
if command -v setfattr >/dev/null && command -v getfattr >/dev/null; then
    check "setfattr user.* is S3 metadata" eventually bash -c "setfattr -n user.color -v blue '$B/empty' && '$AUGUR_BIN' -c '$CONF' stat bkt/empty | grep -q 'x-amz-meta-color: blue'"
    check "  getfattr reads it back" bash -c "[ \"\$(getfattr --absolute-names --only-values -n user.color '$B/empty')\" = blue ]"
elif command -v python3 >/dev/null; then
    check "user.* xattrs are S3 metadata (python3; setfattr not installed)" eventually bash -c "python3 -c \"import os; os.setxattr('$B/empty', 'user.color', b'blue'); assert os.getxattr('$B/empty', 'user.color') == b'blue'\" && '$AUGUR_BIN' -c '$CONF' stat bkt/empty | grep -q 'x-amz-meta-color: blue'"
else
    echo "skip  xattrs: neither setfattr nor python3 is installed"
fi
A put "$T/small.txt" bkt/from-cli.txt
check "a key put over the store shows in the mount at once" cmp "$T/small.txt" "$B/from-cli.txt"
check "  with mode 0644" bash -c "[ \"\$(stat -c %a '$B/from-cli.txt')\" = 644 ] || [ \"\$(stat -c %a '$B/from-cli.txt')\" = \"\$(stat -c %a '$T/small.txt')\" ]"

section "a tarball unpacked onto the mount"
SRC=$T/src
mkdir -p "$SRC/lib/deep/er" "$SRC/docs" "$SRC/empty-dir" "$SRC/bin"
for i in $(seq 1 60); do
    d=$SRC/lib
    [ $((i % 3)) -eq 0 ] && d=$SRC/lib/deep
    [ $((i % 7)) -eq 0 ] && d=$SRC/lib/deep/er
    [ $((i % 5)) -eq 0 ] && d=$SRC/docs
    head -c $(( (i * 7919) % 150000 )) /dev/urandom >"$d/file$i.dat"
done
head -c 2500000 /dev/urandom >"$SRC/bin/big.bin"
: >"$SRC/docs/zero-length"
printf '#!/bin/sh\necho hi\n' >"$SRC/bin/run.sh"
chmod 755 "$SRC/bin/run.sh"
chmod 600 "$SRC/docs/file5.dat"
ln -s ../bin/run.sh "$SRC/docs/run-link"
tar -C "$SRC" -cf "$T/src.tar" .
mkdir "$B/untar"
check "tar -x onto the mount succeeds" tar -C "$B/untar" -xf "$T/src.tar"
check "  diff -r finds no difference" diff -r --no-dereference "$SRC" "$B/untar"
check "  types, modes, sizes and link targets match" bash -c "diff <(cd '$SRC' && find . -printf '%y %m %s %p -> %l\n' | LC_ALL=C sort | grep -v '^d') <(cd '$B/untar' && find . -printf '%y %m %s %p -> %l\n' | LC_ALL=C sort | grep -v '^d')"
check "  modification times match (to the second)" bash -c "diff <(cd '$SRC' && find . ! -type d ! -type l -printf '%p %Ts\n' | LC_ALL=C sort) <(cd '$B/untar' && find . ! -type d ! -type l -printf '%p %Ts\n' | LC_ALL=C sort)"
check "  sha256sum of every file matches" bash -c "diff <(cd '$SRC' && find . -type f -exec sha256sum {} + | LC_ALL=C sort) <(cd '$B/untar' && find . -type f -exec sha256sum {} + | LC_ALL=C sort)"
check "  the empty directory exists" test -d "$B/untar/empty-dir"
check "  the store has every file" eventually bash -c "'$AUGUR_BIN' -c '$CONF' get bkt/untar/bin/big.bin - | cmp - '$SRC/bin/big.bin'"
check "rm -r removes the tree" bash -c "rm -r '$B/untar' && [ ! -e '$B/untar' ]"

section "close, fsync and the store"
cat >"$T/fsync.py" <<'EOF'
import os, subprocess, sys
augur, conf, path = sys.argv[1:4]
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, b"synced")
os.fsync(fd)  # still open: only fsync can have put it in the store
got = subprocess.run([augur, "-c", conf, "get", "bkt/fsync.txt", "-"], capture_output=True).stdout
os.close(fd)
sys.exit(0 if got == b"synced" else 1)
EOF
check "a file fsynced is in the store when fsync returns" python3 "$T/fsync.py" "$AUGUR_BIN" "$CONF" "$B/fsync.txt"
# The checks of this section, as functions: the same shell, no quoting of loops.
store_is() { [ "$("$AUGUR_BIN" -c "$CONF" get "$1" - 2>/dev/null)" = "$2" ]; }
store_lacks() { ! "$AUGUR_BIN" -c "$CONF" stat "$1" >/dev/null 2>&1; }
burst_seen() {
    [ "$(ls "$B" | grep -c '^burst')" = 30 ] && [ "$(cat "$B/burst17.txt")" = "closed 17" ] &&
        [ "$(stat -c %s "$B/burst30.txt")" = 10 ]
}
burst_stored() {
    local i
    for i in $(seq 30); do store_is "bkt/burst$i.txt" "closed $i" || return 1; done
}
removed_stay_removed() {
    local i
    for i in $(seq 20); do echo x >"$B/gone$i" && rm "$B/gone$i" || return 1; done
    sleep 3 # past every background upload and a retry pass
    ! ls "$B" | grep -q '^gone' || return 1
    for i in $(seq 20); do store_lacks "bkt/gone$i" || return 1; done
}
renamed_stay_moved() {
    local i
    for i in $(seq 20); do echo "r$i" >"$B/ren$i" && mv "$B/ren$i" "$B/ren$i.new" || return 1; done
    sleep 3
    for i in $(seq 20); do
        [ ! -e "$B/ren$i" ] && [ "$(cat "$B/ren$i.new")" = "r$i" ] && store_is "bkt/ren$i.new" "r$i" &&
            store_lacks "bkt/ren$i" || return 1
    done
}
late_stored() {
    local i
    for i in $(seq 30); do store_is "bkt/late$i.txt" "before umount $i" || return 1; done
}
for i in $(seq 30); do printf 'closed %d\n' "$i" >"$B/burst$i.txt"; done
check "30 files closed in a burst are listed, sized and read back through the mount at once" burst_seen
check "  each reaches the store" eventually burst_stored
check "a file written again right after close continues from its staged copy" bash -c "echo one > '$B/again.txt' && echo two >> '$B/again.txt' && [ \"\$(cat '$B/again.txt')\" = \"\$(printf 'one\\ntwo')\" ]"
check "  the store gets both lines" eventually store_is bkt/again.txt "$(printf 'one\ntwo')"
check "files removed right after close never come back" removed_stay_removed
check "files renamed right after close move, and their old names stay free" renamed_stay_moved
for i in $(seq 30); do printf 'before umount %d\n' "$i" >"$B/late$i.txt"; done

section "unmount and remount"
exec 9<"$B/small.txt"
run "$AUGUR_BIN" umount "$MNT"
expect_fail 1 "umount while a file is open"
check "  the mount stays" mounted
exec 9<&-
sleep 0.2
run "$AUGUR_BIN" umount "$MNT"
expect_ok "umount once nothing is open"
check "  the mount is gone" bash -c "! grep -qF ' $MNT ' /proc/mounts"
check "  its process exited" bash -c "[ -z \"\$(for f in /run/augur/mount-*.pid; do [ -f \"\$f\" ] && sed -n 2p \"\$f\"; done | grep -xF '$MNT')\" ]"
run "$AUGUR_BIN" umount "$MNT"
expect_fail 1 "umount of a directory that is not mounted"
run do_mount
expect_ok "mount again"
check "  files written before are there" cmp "$T/small.txt" "$B/from-cli.txt"
check "  and symbolic links" bash -c "[ \"\$(readlink '$B/a2/link')\" = ../moved.bin ]"
check "  and directories" test -d "$B/a2/b"
check "  files closed just before umount were uploaded by it" late_stored

section "SIGTERM"
python3 - "$B/open-at-term.txt" <<'EOF' &
import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, b"written, never closed\n")
open(sys.argv[1] + ".ready", "w").close()
time.sleep(30)
EOF
writer=$!
for _ in $(seq 100); do [ -e "$B/open-at-term.txt.ready" ] && break; sleep 0.05; done
pid=$(server_pid)
check "the mount's process is known by its pid file" test -n "$pid"
kill -TERM "$pid" 2>/dev/null
for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
check "SIGTERM ends the mount's process" bash -c "! kill -0 $pid 2>/dev/null"
check "  after uploading the file still open" bash -c "[ \"\$('$AUGUR_BIN' -c '$CONF' get bkt/open-at-term.txt -)\" = 'written, never closed' ]"
check "  and unmounting" bash -c "! grep -qF ' $MNT ' /proc/mounts"
kill "$writer" 2>/dev/null
wait "$writer" 2>/dev/null
check "the mount's log has no sanitizer report" quiet_log

finish
