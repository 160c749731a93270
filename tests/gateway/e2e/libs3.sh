#!/usr/bin/env bash
# libs3.sh - libs3's `s3` tool (SigV2 only, path-style, plain HTTP) against a running augurd:
# create/test/list buckets, put with attributes, get (ranges, conditions), head, copy, list with
# prefix/delimiter/marker, getacl, a multipart put, query-string authentication, delete.
#
# usage: libs3.sh BUCKET SCRATCH_DIR
# env:   AUGUR_S3_HOSTPORT (127.0.0.1:PORT), AUGUR_S3_ACCESS_KEY, AUGUR_S3_SECRET_KEY;
#        S3_TOOL (default /usr/bin/s3, from Debian's libs3-2).
set -euo pipefail

bucket=${1:?usage: libs3.sh BUCKET SCRATCH_DIR}
work=${2:?usage: libs3.sh BUCKET SCRATCH_DIR}
: "${AUGUR_S3_HOSTPORT:?}" "${AUGUR_S3_ACCESS_KEY:?}" "${AUGUR_S3_SECRET_KEY:?}"
export S3_ACCESS_KEY_ID=$AUGUR_S3_ACCESS_KEY S3_SECRET_ACCESS_KEY=$AUGUR_S3_SECRET_KEY
export S3_HOSTNAME=$AUGUR_S3_HOSTPORT
S3_TOOL=${S3_TOOL:-/usr/bin/s3}

s3() { "$S3_TOOL" -u -r 0 "$@"; }
step() { echo "== [${SECONDS}s] $*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
same() { cmp -s "$1" "$2" || fail "$1 and $2 differ"; }
# expect_fail CODE CMD...: the tool prints "ERROR: ErrorCODE" (its exit status is 0 for some
# failed requests, so the message is what counts)
expect_fail() {
    local code=$1; shift
    local out
    out=$("$@" 2>&1) || true
    grep -q -- "ERROR: Error$code" <<<"$out" || fail "expected $code from: $*; got: $out"
}

mkdir -p "$work"
cd "$work"

step "create, test, list buckets"
s3 create "$bucket"
s3 test "$bucket" | grep -q "$bucket" || fail "test bucket"
s3 list | grep -q "^$bucket " || fail "bucket not listed: $(s3 list)"

step "put with attributes, head, get"
printf 'hello from libs3\n' > small.txt
s3 put "$bucket/dir/small.txt" filename=small.txt contentType=text/plain \
    cacheControl=max-age=5 x-amz-meta-origin=libs3 > /dev/null
s3 head "$bucket/dir/small.txt" > head.txt
grep -q 'Content-Type: text/plain' head.txt || fail "content type: $(cat head.txt)"
grep -q 'Content-Length: 17' head.txt || fail "content length: $(cat head.txt)"
grep -qi 'origin: libs3' head.txt || fail "metadata: $(cat head.txt)"
s3 get "$bucket/dir/small.txt" filename=small.back > /dev/null
same small.txt small.back

step "get a range and with conditions"
s3 get "$bucket/dir/small.txt" filename=range.out startByte=6 byteCount=4 > /dev/null
[[ $(cat range.out) == "from" ]] || fail "range: $(cat range.out)"
etag=$(grep -i '^ETag:' head.txt | sed 's/^[^:]*: *//' | tr -d '\r')
s3 get "$bucket/dir/small.txt" filename=cond.out ifMatch="$etag" > /dev/null
same small.txt cond.out
expect_fail PreconditionFailed s3 get "$bucket/dir/small.txt" filename=cond.out \
    ifMatch='"00000000000000000000000000000000"'
expect_fail PreconditionFailed s3 get "$bucket/dir/small.txt" filename=cond.out \
    ifNotmodifiedSince=2001-01-01T00:00:00

step "put of 20 MiB (libs3 goes multipart above 15 MB), get back"
head -c $((20 * 1024 * 1024)) /dev/urandom > big.bin
s3 put "$bucket/big.bin" filename=big.bin > /dev/null
s3 get "$bucket/big.bin" filename=big.back > /dev/null
same big.bin big.back

step "copy"
s3 copy "$bucket/dir/small.txt" "$bucket/dir/copy.txt" > /dev/null
s3 get "$bucket/dir/copy.txt" filename=copy.back > /dev/null
same small.txt copy.back
s3 copy "$bucket/dir/small.txt" "$bucket/dir/replaced.txt" contentType=application/x-libs3 > /dev/null
s3 head "$bucket/dir/replaced.txt" | grep -q 'Content-Type: application/x-libs3' || fail "copy REPLACE"

step "list with prefix, delimiter, marker, maxkeys"
for k in a/1 a/2 b/1 c; do s3 put "$bucket/list/$k" filename=small.txt > /dev/null; done
s3 list "$bucket" prefix=list/ > list.txt
[[ $(grep -c 'list/' list.txt) -eq 4 ]] || fail "prefix listing: $(cat list.txt)"
s3 list "$bucket" prefix=list/ delimiter=/ > list.txt
grep -q 'list/a/' list.txt || fail "common prefix: $(cat list.txt)"
grep -q 'list/a/1' list.txt && fail "delimiter ignored: $(cat list.txt)"
s3 list "$bucket" prefix=list/ marker=list/a/2 > list.txt
grep -q 'list/a/1' list.txt && fail "marker ignored: $(cat list.txt)"
grep -q 'list/c' list.txt || fail "marker listing: $(cat list.txt)"
# the tool stops at maxkeys keys in all
[[ $(s3 list "$bucket" prefix=list/ maxkeys=2 | grep -c 'list/') -eq 2 ]] || fail "maxkeys"

step "getacl"
s3 getacl "$bucket/dir/small.txt" | grep -q FULL_CONTROL || fail "getacl"
s3 getacl "$bucket" | grep -q FULL_CONTROL || fail "getacl of the bucket"

step "query-string authentication (gqs)"
url=$(s3 gqs "$bucket/dir/small.txt" expires=2099-01-01T00:00:00 | tr -d '\r')
/usr/bin/python3 - "$url" small.txt <<'PY'
import sys, urllib.request
url = sys.argv[1]
if url.startswith("https://"):
    url = "http://" + url[len("https://"):]
assert urllib.request.urlopen(url, timeout=30).read() == open(sys.argv[2], "rb").read()
PY

step "errors"
expect_fail NoSuchKey s3 get "$bucket/no/such/key" filename=nothing
expect_fail BucketNotEmpty s3 delete "$bucket"
expect_fail NoSuchBucket s3 list "$bucket-missing"

step "delete keys and the bucket"
for k in dir/small.txt dir/copy.txt dir/replaced.txt big.bin list/a/1 list/a/2 list/b/1 list/c; do
    s3 delete "$bucket/$k"
done
s3 delete "$bucket"
s3 list | grep -q "^$bucket " && fail "bucket still listed"
echo "libs3: all steps passed"
