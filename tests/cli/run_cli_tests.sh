#!/bin/bash
# run_cli_tests.sh - the contract of the `augur` and `augurd` command lines: exit statuses
# (0 done, 1 failed, 2 usage or configuration), one-line "augur: ..." errors on stderr, and
# what each verb leaves behind. Runs against a scratch 6-node cluster under $AUGUR_TEST_TMP.
#
#   AUGUR_BIN=build/asan/augur AUGURD_BIN=build/asan/augurd bash tests/cli/run_cli_tests.sh
#
# Prints one line per check and ends with "N passed, M failed"; exits 1 if any check failed.
set -u

AUGUR_BIN=${AUGUR_BIN:-build/asan/augur}
AUGURD_BIN=${AUGURD_BIN:-build/asan/augurd}
TMP_BASE=${AUGUR_TEST_TMP:-/tmp}
mkdir -p "$TMP_BASE"
T=$(mktemp -d "$TMP_BASE/cli.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
unset AUGUR_CONF

. "$(dirname "$0")/cli_lib.sh"

for bin in "$AUGUR_BIN" "$AUGURD_BIN"; do
    if [ ! -x "$bin" ]; then
        echo "FAIL  $bin is not an executable (build it, or set AUGUR_BIN / AUGURD_BIN)"
        echo "0 passed, 1 failed"
        exit 1
    fi
done

# ---- a 6-node cluster: k=4, m=2, 4 KiB stripes so small files span many stripes -------------
for i in 1 2 3 4 5 6; do mkdir "$T/n$i"; done
CONF=$T/augur.conf
cat >"$CONF" <<EOF
# test cluster
[general]
log_level = warn
state_dir = $T/state

[backend]
data_shards = 4
parity_shards = 2
nodes = dir:$T/n1, dir:$T/n2, dir:$T/n3,
        dir:$T/n4, dir:$T/n5, dir:$T/n6
inline_max = 1K
stripe_size = 4K
EOF
SHARD_LEN=1024 # stripe_size / data_shards, already a multiple of 64

A() { "$AUGUR_BIN" -c "$CONF" "$@"; }

# Deterministic test data: DATA is 15 stripes of 4 KiB and a bit, SMALL stays inline.
seq 1 12000 >"$T/data"
printf 'hello, augur\n' >"$T/small"
: >"$T/empty"

section "help and usage"
run "$AUGUR_BIN" --help
expect_rc 0 "augur --help exits 0"
check "augur --help prints the usage on stdout" grep -q "^usage: augur" "$T/out"
check "augur --help lists every verb" \
    bash -c 'for v in mb rb ls put get stat rm heal; do grep -q "^  $v " "$1" || exit 1; done' _ "$T/out"
run "$AUGUR_BIN" --version
expect_rc 0 "augur --version exits 0"
check "augur --version prints 'augur VERSION'" grep -qE "^augur [0-9]+\.[0-9]+\.[0-9]+$" "$T/out"
run "$AUGUR_BIN"
expect_rc 2 "augur without a command exits 2"
check "augur without a command prints the usage on stderr" grep -q "^usage: augur" "$T/err"
run "$AUGUR_BIN" -c "$CONF" frobnicate
expect_fail 2 "an unknown command"
run "$AUGUR_BIN" --frobnicate ls
expect_fail 2 "an unknown option"
run A mb
expect_fail 2 "mb without a bucket"
run A put "$T/small"
expect_fail 2 "put without a destination"
run A get bkt/x
expect_fail 2 "get without a destination"
run A ls a b
expect_fail 2 "ls with two targets"
run A heal --frobnicate
expect_fail 2 "heal with an unknown flag"

section "buckets"
run A ls
expect_ok "ls with no buckets"
check "ls with no buckets prints nothing" test ! -s "$T/out"
run A mb bkt
expect_ok "mb bkt"
check "mb prints nothing" test ! -s "$T/out"
run A mb bkt
expect_fail 1 "mb of an existing bucket"
check_err "already exists"
run A mb other.bkt-2
expect_ok "mb other.bkt-2"
run A ls
expect_ok "ls lists buckets"
check "ls shows both buckets, sorted, with a date" \
    bash -c '[ "$(awk "{print \$3}" "$1" | tr "\n" " ")" = "bkt other.bkt-2 " ] &&
             grep -qE "^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8}  bkt$" "$1"' _ "$T/out"
run A rb other.bkt-2
expect_ok "rb of an empty bucket"
run A rb other.bkt-2
expect_fail 1 "rb of a missing bucket"
check_err "not found"
run A ls
check "rb removed the bucket from ls" bash -c '! grep -q other "$1"' _ "$T/out"

section "bad bucket names change nothing"
before=$(snapshot)
long64=$(printf 'b%.0s' $(seq 64))
for name in AB ab "a..b" "-ab" "ab-" "a_b" "192.168.0.1" "$long64" $'ab\ncd' $'ab\x1b[2Jcd'; do
    shown=$(printf '%q' "$name")
    run A mb "$name"
    expect_fail 1 "mb $shown"
    run A put "$T/small" "$name/key"
    expect_fail 1 "put to bucket $shown"
done
check "refused bucket names left the nodes untouched" test "$before" = "$(snapshot)"
run A ls
check "only bkt exists" test "$(awk '{print $3}' "$T/out")" = "bkt"

section "bad keys change nothing"
before=$(snapshot)
long_component=$(printf 'c%.0s' $(seq 256))
long_key=$(for i in $(seq 6); do printf 'k%.0s' $(seq 200); printf /; done)
for key in "a//b" "/lead" "a/../b" "./x" "a/." $'line\nbreak' $'ctl\x01' $'bad\xff' \
    "$long_component" "$long_key"; do
    shown=$(printf '%q' "$key")
    [ ${#shown} -gt 40 ] && shown="${shown:0:37}..."
    run A put "$T/small" "bkt/$key"
    expect_fail 1 "put key $shown"
done
run A put "$T/small" "bkt/"
expect_fail 2 "put with an empty key"
check "refused keys left the nodes untouched" test "$before" = "$(snapshot)"
run A get "bkt/a//b" "$T/never"
expect_fail 1 "get of a bad key"
check "get of a bad key creates no file" test ! -e "$T/never"
run A stat "bkt/a/../b"
expect_fail 1 "stat of a bad key"
run A rm $'bkt/x\ny'
expect_fail 1 "rm of a bad key"

section "put, stat, get, ls, rm"
run A put "$T/data" bkt/dir/data.txt
expect_ok "put a multi-stripe file"
check "put prints nothing" test ! -s "$T/out"
run A put "$T/small" bkt/dir/small.txt
expect_ok "put an inline file"
run A put "$T/empty" bkt/empty
expect_ok "put an empty file"
run A put "$T/small" "bkt/dir/sub/"
expect_ok "put a directory marker key"
run A put "$T/small" "bkt/caf$(printf '\xc3\xa9')/x"
expect_ok "put a UTF-8 key"
run A stat bkt/dir/data.txt
expect_ok "stat"
size=$(wc -c <"$T/data")
check "stat shows the size" grep -qE "^size: +$size$" "$T/out"
check "stat shows the key" grep -qE "^key: +dir/data.txt$" "$T/out"
check "stat shows the MD5 etag of a single put" \
    grep -q "\"$(md5sum "$T/data" | cut -d' ' -f1)\"" "$T/out"
run A get bkt/dir/data.txt "$T/got"
expect_ok "get to a file"
check "get wrote the same bytes" cmp -s "$T/data" "$T/got"
check "get left no temporary file" no_temp_files "$T"
(umask 022 && A get bkt/dir/data.txt "$T/mode644" 2>/dev/null)
(umask 077 && A get bkt/dir/data.txt "$T/mode600" 2>/dev/null)
check "get creates the file with the mode the umask gives a new file" \
    test "$(stat -c %a "$T/mode644") $(stat -c %a "$T/mode600")" = "644 600"
run A get bkt/dir/small.txt "$T/got"
expect_ok "get over an existing file"
check "get replaced the existing file" cmp -s "$T/small" "$T/got"
run A get bkt/empty "$T/got-empty"
expect_ok "get of an empty object"
check "get of an empty object makes an empty file" test -f "$T/got-empty" -a ! -s "$T/got-empty"
run A get bkt/dir/data.txt -
expect_ok "get to stdout"
check "get - writes the object to stdout" cmp -s "$T/data" "$T/out"
cat "$T/data" "$T/data" | A put - bkt/stdin.bin >"$T/out" 2>"$T/err"
rc=$?
expect_rc 0 "put from stdin (-)"
cat "$T/data" "$T/data" >"$T/data2"
run A get bkt/stdin.bin -
expect_ok "get of the stdin upload"
check "put - stored standard input" cmp -s "$T/data2" "$T/out"
A put - bkt/stdin-empty </dev/null >"$T/out" 2>"$T/err"
rc=$?
expect_rc 0 "put of an empty stdin"

run A ls bkt
expect_ok "ls bkt"
check "ls bkt shows the top level: objects and common prefixes" \
    bash -c 'grep -qE "PRE  dir/$" "$1" && grep -qE "  [0-9]+  empty$" "$1" &&
             grep -qE "  [0-9]+  stdin.bin$" "$1" && ! grep -q "data.txt" "$1"' _ "$T/out"
run A ls bkt/dir/
expect_ok "ls bkt/dir/"
check "ls bkt/dir/ shows its keys and sub/" \
    bash -c 'grep -qE "  $2  dir/data.txt$" "$1" && grep -qE "PRE  dir/sub/$" "$1" &&
             [ "$(wc -l <"$1")" -eq 3 ]' _ "$T/out" "$size"
run A ls bkt -r
expect_ok "ls -r"
check "ls -r lists every key in byte order" \
    bash -c '[ "$(awk "{print \$NF}" "$1" | tr "\n" " ")" = "caf$(printf "\xc3\xa9")/x dir/data.txt dir/small.txt dir/sub/ empty stdin-empty stdin.bin " ]' \
    _ "$T/out"
A mb hidden-bkt 2>/dev/null && A put "$T/small" hidden-bkt/secret.txt 2>/dev/null
for p in "../hidden-bkt/" "dir/../../hidden-bkt/" "./" "dir//"; do
    run A ls "bkt/$p" -r
    expect_ok "ls bkt/$p"
    check "ls bkt/$p lists nothing (no key can start with it)" test ! -s "$T/out"
done
A rm hidden-bkt/secret.txt 2>/dev/null && A rb hidden-bkt 2>/dev/null
run A ls nobucket
expect_fail 1 "ls of a missing bucket"
check_err "not found"

section "missing keys"
run A get bkt/missing "$T/missing-out"
expect_fail 1 "get of a missing key"
check_err "not found"
check "get of a missing key creates no file" test ! -e "$T/missing-out"
check "get of a missing key leaves no temporary file" no_temp_files "$T"
run A get bkt/missing -
expect_fail 1 "get - of a missing key"
check "get - of a missing key writes nothing to stdout" test ! -s "$T/out"
run A stat bkt/missing
expect_fail 1 "stat of a missing key"
check_err "not found"
run A rm bkt/missing
expect_fail 1 "rm of a missing key"
check_err "not found"
run A get nobucket/key "$T/missing-out"
expect_fail 1 "get from a missing bucket"
check_err "not found"
run A put "$T/small" nobucket/key
expect_fail 1 "put to a missing bucket"
check_err "not found"
run A put "$T/no-such-file" bkt/key
expect_fail 1 "put of a missing local file"
run A get bkt/dir/small.txt "$T/no-such-dir/out"
expect_fail 1 "get into a missing directory"

section "rm and rb"
run A rm bkt/dir/small.txt
expect_ok "rm"
run A stat bkt/dir/small.txt
expect_fail 1 "stat after rm"
check_err "not found"
run A ls bkt -r
check "ls no longer shows the removed key" bash -c '! grep -q small.txt "$1"' _ "$T/out"
run A rb bkt
expect_fail 1 "rb of a non-empty bucket"
check_err "not empty"
run A stat bkt/dir/data.txt
expect_ok "rb of a non-empty bucket kept its keys"

section "get when the data cannot be reconstructed"
run A put "$T/data" bkt/fragile
expect_ok "put the object to lose"
printf 'precious\n' >"$T/keep.txt"
for i in 1 2 3; do mv "$T/n$i" "$T/n$i.away"; done
run A get bkt/fragile "$T/lost"
expect_fail 1 "get with 3 of 6 nodes gone"
check "the failed get created no output file" test ! -e "$T/lost"
check "the failed get left no temporary file" no_temp_files "$T"
run A get bkt/fragile "$T/keep.txt"
expect_fail 1 "get over an existing file with 3 of 6 nodes gone"
check "the existing destination is untouched" test "$(cat "$T/keep.txt")" = "precious"
check "no temporary file beside the destination" no_temp_files "$T"
run A get bkt/fragile -
expect_fail 1 "get - with 3 of 6 nodes gone"
for i in 1 2 3; do mv "$T/n$i.away" "$T/n$i"; done
run A get bkt/fragile "$T/lost"
expect_ok "get once the nodes are back"
check "the bytes are intact" cmp -s "$T/data" "$T/lost"

# Damage stripe 2 onwards on three of the six chunk files: the first stripes still decode, so
# bytes are streamed before the read fails; the destination must still never appear.
run A put "$T/data" bkt/torn
expect_ok "put the object to tear"
run A stat bkt/torn
vid=$(awk '/^version:/ {print $2}' "$T/out")
chunks=$(find "$T"/n[1-6]/d -type f -path "*/$vid.*" 2>/dev/null | LC_ALL=C sort | head -3)
check "found three chunk files of the object" test "$(echo "$chunks" | grep -c .)" -eq 3
for c in $chunks; do
    printf 'XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX' |
        dd of="$c" bs=1 seek=$((2 * (SHARD_LEN + 4) + 8)) conv=notrunc status=none
done
run A get bkt/torn "$T/torn"
expect_fail 1 "get of an object torn mid-way"
check "the torn get created no output file" test ! -e "$T/torn"
check "the torn get left no temporary file" no_temp_files "$T"
run A get bkt/torn "$T/keep.txt"
expect_fail 1 "get of the torn object over an existing file"
check "the existing destination is still untouched" test "$(cat "$T/keep.txt")" = "precious"
run A get bkt/torn -
expect_fail 1 "get - of the torn object"
check "get - delivered only whole, good stripes before failing" \
    bash -c 'n=$(wc -c <"$1"); [ "$n" -lt "$2" ] && cmp -s "$1" <(head -c "$n" "$3")' \
    _ "$T/out" "$size" "$T/data"
run A heal
expect_fail 1 "heal reports the object it cannot repair"
check "heal names the unrepairable object" grep -q "torn" "$T/out"
run A rm bkt/torn
expect_ok "rm of the torn object"

section "heal"
run A heal
expect_ok "heal of a healthy cluster"
check "heal prints a summary" grep -qE "^checked [0-9]+ objects" "$T/out"
rm -rf "$T/n4"
mkdir "$T/n4"
run A heal
expect_ok "heal after a node was replaced by an empty directory"
check "heal says what it repaired" \
    bash -c 'grep -qE "^(repaired|.*rebuilt)" "$1" && grep -qE "^checked .* repaired [1-9]" "$1"' \
    _ "$T/out"
check "heal rebuilt shards" grep -q "rebuilt" "$T/out"
run A heal
expect_ok "a second heal"
check "a second heal repairs nothing" \
    bash -c '[ "$(wc -l <"$1")" -eq 1 ] &&
             grep -qE "repaired 0 manifest copies and 0 shards" "$1"' _ "$T/out"
mv "$T/n1" "$T/n1.away"
mv "$T/n2" "$T/n2.away"
run A get bkt/dir/data.txt "$T/after-heal"
expect_ok "get with two other nodes gone relies on the replaced node"
check "the healed data is intact" cmp -s "$T/data" "$T/after-heal"
mv "$T/n1.away" "$T/n1"
run A heal
expect_fail 1 "heal with a node down"
check_err "down"
mv "$T/n2.away" "$T/n2"
run A heal
expect_ok "heal once every node is back"

section "configuration errors"
run "$AUGUR_BIN" -c "$T/no-such.conf" ls
expect_fail 2 "a missing configuration file"
check_err "no-such.conf"
run "$AUGUR_BIN" -c "$T" ls
expect_fail 2 "a directory given as the configuration file"
check_err "cannot read"
broken_conf() { # broken_conf LINE TEXT: a configuration whose line LINE is TEXT
    local f=$T/broken-$1.conf
    {
        [ "$1" -gt 1 ] && sed -n "1,$(($1 - 1))p" "$CONF"
        printf '%s\n' "$2"
    } >"$f"
    echo "$f"
}
for bad in "7|data_shards = four" "3|frobnicate = 1" "10|not an ini line" "4|log_level = loud" \
    "8|parity_shards = 99" "11|inline_max = 12Q" "9|stripe_size = 1G" "1|[nosuchsection]
x = 1"; do
    line=${bad%%|*}
    text=${bad#*|}
    f=$(broken_conf "$line" "$text")
    line=$((line + $(printf '%s' "$text" | wc -l))) # a section is reported at its first key
    text=${text//$'\n'/\\n}
    run "$AUGUR_BIN" -c "$f" ls
    expect_fail 2 "augur with '$text' at line $line"
    check "  the error is 'augur: FILE:$line: ...'" grep -q "^augur: $f:$line: " "$T/err"
    run "$AUGURD_BIN" -c "$f"
    expect_fail 2 "augurd with '$text' at line $line" augurd
    check "  the error is 'augurd: FILE:$line: ...'" grep -q "^augurd: $f:$line: " "$T/err"
done
f=$T/too-few.conf
sed 's/^        dir:.*n4.*$/        dir:'"${T//\//\\/}"'\/n4/' "$CONF" >"$f"
run "$AUGUR_BIN" -c "$f" ls
expect_fail 2 "augur with 4 nodes for 4+2 shards"
check "  the error names the nodes line" grep -q "^augur: $f:10: " "$T/err"
AUGUR_CONF=$CONF "$AUGUR_BIN" ls >"$T/out" 2>"$T/err"
rc=$?
expect_rc 0 "AUGUR_CONF names the configuration"
check "  and it is used" grep -q " bkt$" "$T/out"

section "augurd"
run "$AUGURD_BIN" --version
expect_rc 0 "augurd --version exits 0"
check "augurd --version prints 'augurd VERSION'" \
    grep -qE "^augurd [0-9]+\.[0-9]+\.[0-9]+$" "$T/out"
run "$AUGURD_BIN" --help
expect_rc 0 "augurd --help exits 0"
check "augurd --help prints its usage" grep -q "^usage: augurd" "$T/out"
run "$AUGURD_BIN" --frobnicate
expect_rc 2 "augurd with an unknown argument exits 2"
run "$AUGURD_BIN" -c "$CONF" --check
expect_rc 0 "augurd --check of a good configuration exits 0"
run "$AUGURD_BIN" -c "$T/no-such.conf" --check
expect_fail 2 "augurd --check of a missing configuration" augurd

finish
