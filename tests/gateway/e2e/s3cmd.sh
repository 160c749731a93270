#!/usr/bin/env bash
# s3cmd.sh - s3cmd against a running augurd, signing with SigV4 or SigV2: buckets, put/get with
# metadata, multipart put, listing, info, cp/mv, sync, setacl, del, rb.
#
# usage: s3cmd.sh BUCKET SCRATCH_DIR v4|v2
# env:   AUGUR_S3_HOSTPORT (127.0.0.1:PORT), AUGUR_S3_ACCESS_KEY, AUGUR_S3_SECRET_KEY;
#        S3CMD (default /usr/bin/s3cmd, Debian's s3cmd).
set -euo pipefail

bucket=${1:?usage: s3cmd.sh BUCKET SCRATCH_DIR v4|v2}
work=${2:?usage: s3cmd.sh BUCKET SCRATCH_DIR v4|v2}
sig=${3:?usage: s3cmd.sh BUCKET SCRATCH_DIR v4|v2}
: "${AUGUR_S3_HOSTPORT:?}" "${AUGUR_S3_ACCESS_KEY:?}" "${AUGUR_S3_SECRET_KEY:?}"
S3CMD=${S3CMD:-/usr/bin/s3cmd}

step() { echo "== [${SECONDS}s] $*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
same() { cmp -s "$1" "$2" || fail "$1 and $2 differ"; }

mkdir -p "$work"
cd "$work"
cfg=$PWD/s3cfg
# host_bucket without %(bucket)s: path-style requests to the one endpoint
cat > "$cfg" <<CFG
[default]
access_key = $AUGUR_S3_ACCESS_KEY
secret_key = $AUGUR_S3_SECRET_KEY
host_base = $AUGUR_S3_HOSTPORT
host_bucket = $AUGUR_S3_HOSTPORT
use_https = False
check_ssl_certificate = False
signature_v2 = $([[ $sig == v2 ]] && echo True || echo False)
bucket_location = us-east-1
multipart_chunk_size_mb = 5
socket_timeout = 60
max_retries = 1
progress_meter = False
CFG
s3c() { "$S3CMD" -c "$cfg" --no-progress "$@"; }

step "mb, ls of buckets ($sig)"
s3c mb "s3://$bucket"
s3c ls | grep -q "s3://$bucket\$" || fail "bucket not listed"

step "put with metadata, info, get"
printf 'hello from s3cmd\n' > small.txt
s3c put small.txt "s3://$bucket/dir/small.txt" --mime-type=text/plain \
    --add-header=Cache-Control:max-age=30 --add-header=x-amz-meta-origin:s3cmd
s3c info "s3://$bucket/dir/small.txt" > info.txt
grep -q 'text/plain' info.txt || fail "content type in: $(cat info.txt)"
grep -q "$(md5sum < small.txt | cut -c1-32)" info.txt || fail "MD5 in info"
s3c get "s3://$bucket/dir/small.txt" small.back
same small.txt small.back

step "multipart put of 12 MiB in 5 MiB parts, get back"
head -c $((12 * 1024 * 1024)) /dev/urandom > big.bin
# (s3cmd reports the MD5 it keeps in x-amz-meta-s3cmd-attrs, not the multipart ETag)
s3c put --multipart-chunk-size-mb=5 big.bin "s3://$bucket/big.bin"
s3c get --force "s3://$bucket/big.bin" big.back
same big.bin big.back

step "ls, la, du"
s3c ls "s3://$bucket/" > ls.txt
grep -q "DIR .*s3://$bucket/dir/" ls.txt || fail "no DIR in: $(cat ls.txt)"
grep -q "s3://$bucket/big.bin" ls.txt || fail "big.bin not listed"
s3c ls --recursive "s3://$bucket/" | grep -q "dir/small.txt" || fail "recursive listing"
s3c du "s3://$bucket/" | grep -q "$((12 * 1024 * 1024 + 17))" || fail "du"

step "cp and mv"
s3c cp "s3://$bucket/dir/small.txt" "s3://$bucket/dir/copy.txt"
s3c mv "s3://$bucket/dir/copy.txt" "s3://$bucket/dir/moved.txt"
s3c ls "s3://$bucket/dir/" > ls.txt
grep -q "moved.txt" ls.txt || fail "mv target missing"
grep -q "copy.txt" ls.txt && fail "mv left the source"

step "sync a tree up and down"
mkdir -p tree/a tree/b
for f in tree/one tree/a/two tree/b/three "tree/b/with space"; do
    head -c $((RANDOM % 3000 + 1)) /dev/urandom > "$f"
done
s3c sync tree/ "s3://$bucket/tree/"
echo changed > tree/a/two
rm tree/one
s3c sync --delete-removed tree/ "s3://$bucket/tree/"
mkdir tree.back
s3c sync "s3://$bucket/tree/" tree.back/
diff -r tree tree.back || fail "synced tree differs"

step "setacl, getacl-ish info"
s3c setacl --acl-private "s3://$bucket/dir/small.txt"
s3c info "s3://$bucket" > /dev/null

step "errors: missing key, rb of a bucket that is not empty"
if s3c get "s3://$bucket/no/such/key" nothing 2> err.txt; then fail "got a missing key"; fi
grep -qi "404\|NoSuchKey\|not found\|does not exist" err.txt || fail "missing key error: $(cat err.txt)"
if s3c rb "s3://$bucket" 2> err.txt; then fail "removed a bucket that is not empty"; fi
grep -q "BucketNotEmpty" err.txt || fail "rb error: $(cat err.txt)"

step "del, rb"
s3c del --recursive --force "s3://$bucket/"
[[ -z $(s3c ls --recursive "s3://$bucket/") ]] || fail "objects left after del"
s3c rb "s3://$bucket"
s3c ls | grep -q "s3://$bucket\$" && fail "bucket still listed"
echo "s3cmd ($sig): all steps passed"
