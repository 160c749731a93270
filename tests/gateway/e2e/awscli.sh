#!/usr/bin/env bash
# awscli.sh - the AWS CLI against a running augurd: `aws s3` cp/sync/ls/rm/mb/rb, and `aws s3api`
# for multipart uploads, copies, metadata, ranges and conditional requests.
#
# usage: awscli.sh BUCKET SCRATCH_DIR
# env:   AUGUR_S3_ENDPOINT (http://127.0.0.1:PORT), AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
#        AWS_DEFAULT_REGION; AWS_CLI (default /usr/bin/aws, Debian's awscli).
# Prints one line per step; exits non-zero at the first failure.
set -euo pipefail
[[ -n ${AWSCLI_TRACE:-} ]] && { PS4='+[$SECONDS] '; set -x; }

bucket=${1:?usage: awscli.sh BUCKET SCRATCH_DIR}
work=${2:?usage: awscli.sh BUCKET SCRATCH_DIR}
: "${AUGUR_S3_ENDPOINT:?}"
AWS_CLI=${AWS_CLI:-/usr/bin/aws}
export AWS_PAGER="" AWS_MAX_ATTEMPTS=1

aws() { "$AWS_CLI" --endpoint-url "$AUGUR_S3_ENDPOINT" --no-cli-pager "$@"; }
api() { aws s3api "$@"; }
step() { echo "== [${SECONDS}s] $*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
# expect_fail PATTERN CMD...: CMD must fail with PATTERN in its error output
expect_fail() {
    local pattern=$1; shift
    local out
    if out=$("$@" 2>&1); then fail "expected failure ($pattern) from: $*"; fi
    grep -q -- "$pattern" <<<"$out" || fail "expected '$pattern' from: $*; got: $out"
}
same() { cmp -s "$1" "$2" || fail "$1 and $2 differ"; }

mkdir -p "$work"
cd "$work"

step "mb and ls of buckets"
aws s3 mb "s3://$bucket"
aws s3 ls | grep -q " $bucket\$" || fail "bucket not listed"

step "cp a small file with metadata"
printf 'hello from awscli\n' > small.txt
aws s3 cp small.txt "s3://$bucket/docs/small.txt" --content-type text/plain \
    --metadata origin=awscli,step=cp --cache-control max-age=60 \
    --content-disposition 'attachment; filename="small.txt"' --only-show-errors
api head-object --bucket "$bucket" --key docs/small.txt > head.json
/usr/bin/python3 - head.json <<'PY'
import json, sys
h = json.load(open(sys.argv[1]))
assert h["ContentType"] == "text/plain", h
assert h["Metadata"] == {"origin": "awscli", "step": "cp"}, h
assert h["CacheControl"] == "max-age=60", h
assert h["ContentDisposition"] == 'attachment; filename="small.txt"', h
assert h["ContentLength"] == 18, h
PY
aws s3 cp "s3://$bucket/docs/small.txt" small.back --only-show-errors
same small.txt small.back

step "cp a 20 MiB file (multipart) and back"
head -c $((20 * 1024 * 1024)) /dev/urandom > big.bin
aws s3 cp big.bin "s3://$bucket/big.bin" --only-show-errors
etag=$(api head-object --bucket "$bucket" --key big.bin --query ETag --output text)
[[ $etag == *-3\" ]] || fail "20 MiB in 8 MiB parts should have a 3-part ETag, got $etag"
aws s3 cp "s3://$bucket/big.bin" big.back --only-show-errors
same big.bin big.back

step "sync a tree up, change it, sync with --delete, sync down"
mkdir -p tree/a/b tree/c
for f in tree/top tree/a/one tree/a/b/two tree/c/three "tree/c/with space"; do
    head -c $((RANDOM % 5000 + 1)) /dev/urandom > "$f"
done
aws s3 sync tree "s3://$bucket/tree" --only-show-errors
n=$(aws s3 ls --recursive "s3://$bucket/tree/" | wc -l)
[[ $n -eq 5 ]] || fail "expected 5 synced objects, listed $n"
sleep 1.1  # sync compares times at a one-second grain
echo changed > tree/a/one
echo new > tree/c/new
rm tree/top
aws s3 sync tree "s3://$bucket/tree" --delete --only-show-errors
aws s3 ls --recursive "s3://$bucket/tree/" > listing.txt
grep -q 'tree/c/new$' listing.txt || fail "new file not synced"
grep -q 'tree/top$' listing.txt && fail "deleted file still there"
aws s3 sync "s3://$bucket/tree" tree.back --only-show-errors
diff -r tree tree.back || fail "tree synced down differs"
# a second sync has nothing to do
[[ -z $(aws s3 sync tree "s3://$bucket/tree" --dryrun) ]] || fail "second sync not empty"

step "ls with prefixes"
aws s3 ls "s3://$bucket/" > top.txt
grep -q 'PRE tree/' top.txt || fail "no PRE tree/ in: $(cat top.txt)"
grep -q 'PRE docs/' top.txt || fail "no PRE docs/"
grep -q ' big.bin$' top.txt || fail "no big.bin"
aws s3 ls "s3://$bucket/tree/c/" | grep -q 'with space$' || fail "key with a space not listed"

step "s3api multipart: create, upload-part, list-parts, list-multipart-uploads, complete"
head -c $((5 * 1024 * 1024)) /dev/urandom > part1
head -c 777 /dev/urandom > part2
uid=$(api create-multipart-upload --bucket "$bucket" --key mp/object --content-type video/mp4 \
        --metadata kind=multipart --query UploadId --output text)
e1=$(api upload-part --bucket "$bucket" --key mp/object --upload-id "$uid" --part-number 1 \
        --body part1 --query ETag --output text)
e2=$(api upload-part --bucket "$bucket" --key mp/object --upload-id "$uid" --part-number 2 \
        --body part2 --query ETag --output text)
[[ $(api list-parts --bucket "$bucket" --key mp/object --upload-id "$uid" \
        --query 'length(Parts)') == 2 ]] || fail "list-parts"
api list-multipart-uploads --bucket "$bucket" --query 'Uploads[].UploadId' --output text \
    | grep -q "$uid" || fail "upload not listed"
printf '{"Parts":[{"PartNumber":1,"ETag":%s},{"PartNumber":2,"ETag":%s}]}' \
    "$(printf '%s' "$e1" | /usr/bin/python3 -c 'import json,sys; print(json.dumps(sys.stdin.read()))')" \
    "$(printf '%s' "$e2" | /usr/bin/python3 -c 'import json,sys; print(json.dumps(sys.stdin.read()))')" \
    > parts.json
etag=$(api complete-multipart-upload --bucket "$bucket" --key mp/object --upload-id "$uid" \
        --multipart-upload file://parts.json --query ETag --output text)
want=$(/usr/bin/python3 -c '
import hashlib, sys
d = b"".join(hashlib.md5(open(p, "rb").read()).digest() for p in sys.argv[1:])
print("\"%s-%d\"" % (hashlib.md5(d).hexdigest(), len(sys.argv) - 1))' part1 part2)
[[ $etag == "$want" ]] || fail "multipart ETag $etag, expected $want"
api get-object --bucket "$bucket" --key mp/object mp.back > get.json
cat part1 part2 > mp.want
same mp.want mp.back
grep -q '"ContentType": "video/mp4"' get.json || fail "content type of the multipart object"
grep -q '"kind": "multipart"' get.json || fail "metadata of the multipart object"
[[ $(api head-object --bucket "$bucket" --key mp/object --part-number 2 \
        --query ContentLength) == 777 ]] || fail "head-object --part-number 2"

step "s3api abort-multipart-upload"
uid=$(api create-multipart-upload --bucket "$bucket" --key mp/aborted --query UploadId --output text)
api abort-multipart-upload --bucket "$bucket" --key mp/aborted --upload-id "$uid"
expect_fail NoSuchUpload api list-parts --bucket "$bucket" --key mp/aborted --upload-id "$uid"

step "s3api upload-part-copy with a range"
uid=$(api create-multipart-upload --bucket "$bucket" --key mp/copied --query UploadId --output text)
c1=$(api upload-part-copy --bucket "$bucket" --key mp/copied --upload-id "$uid" --part-number 1 \
        --copy-source "$bucket/big.bin" --copy-source-range bytes=0-5242879 \
        --query CopyPartResult.ETag --output text)
printf '{"Parts":[{"PartNumber":1,"ETag":%s}]}' \
    "$(printf '%s' "$c1" | /usr/bin/python3 -c 'import json,sys; print(json.dumps(sys.stdin.read()))')" \
    > parts.json
api complete-multipart-upload --bucket "$bucket" --key mp/copied --upload-id "$uid" \
    --multipart-upload file://parts.json > /dev/null
api get-object --bucket "$bucket" --key mp/copied copied.back > /dev/null
head -c 5242880 big.bin > copied.want
same copied.want copied.back

step "s3api copy-object with COPY and REPLACE directives"
api copy-object --bucket "$bucket" --key docs/copy1 --copy-source "$bucket/docs/small.txt" > /dev/null
[[ $(api head-object --bucket "$bucket" --key docs/copy1 --query Metadata.origin --output text) \
    == awscli ]] || fail "COPY kept no metadata"
api copy-object --bucket "$bucket" --key docs/copy2 --copy-source "$bucket/docs/small.txt" \
    --metadata-directive REPLACE --metadata fresh=yes --content-type application/x-test > /dev/null
api head-object --bucket "$bucket" --key docs/copy2 > head.json
grep -q '"fresh": "yes"' head.json || fail "REPLACE metadata"
grep -q '"origin"' head.json && fail "REPLACE kept the old metadata"
grep -q '"ContentType": "application/x-test"' head.json || fail "REPLACE content type"
aws s3 mv "s3://$bucket/docs/copy1" "s3://$bucket/docs/moved" --only-show-errors
aws s3 ls "s3://$bucket/docs/" > docs.txt
grep -q ' moved$' docs.txt || fail "mv"
grep -q ' copy1$' docs.txt && fail "mv left the source"

step "s3api get-object with ranges"
api get-object --bucket "$bucket" --key big.bin --range bytes=1000-1999 range.out > range.json
head -c 2000 big.bin | tail -c 1000 > range.want
same range.want range.out
grep -q '"ContentRange": "bytes 1000-1999/20971520"' range.json || fail "Content-Range"
api get-object --bucket "$bucket" --key big.bin --range bytes=-100 suffix.out > /dev/null
tail -c 100 big.bin > suffix.want
same suffix.want suffix.out
expect_fail InvalidRange api get-object --bucket "$bucket" --key big.bin \
    --range bytes=99999999- nothing.out

step "s3api conditional requests"
read -r etag lm < <(api head-object --bucket "$bucket" --key docs/small.txt \
                      --query '[ETag,LastModified]' --output text)
api get-object --bucket "$bucket" --key docs/small.txt --if-match "$etag" cond.out > /dev/null
same small.txt cond.out
expect_fail PreconditionFailed api get-object --bucket "$bucket" --key docs/small.txt \
    --if-match '"00000000000000000000000000000000"' cond.out
expect_fail 304 api get-object --bucket "$bucket" --key docs/small.txt \
    --if-none-match "$etag" cond.out
expect_fail 304 api get-object --bucket "$bucket" --key docs/small.txt \
    --if-modified-since "$lm" cond.out
expect_fail PreconditionFailed api get-object --bucket "$bucket" --key docs/small.txt \
    --if-unmodified-since 2000-01-01T00:00:00Z cond.out
expect_fail PreconditionFailed api copy-object --bucket "$bucket" --key docs/nope \
    --copy-source "$bucket/docs/small.txt" --copy-source-if-none-match "$etag"

step "errors"
expect_fail NoSuchKey api get-object --bucket "$bucket" --key no/such/key out.bin
expect_fail NoSuchBucket aws s3 ls "s3://$bucket-does-not-exist/"
expect_fail BucketNotEmpty aws s3 rb "s3://$bucket"

step "rm and rb"
aws s3 rm "s3://$bucket/docs/small.txt" --only-show-errors
aws s3 rm "s3://$bucket/tree" --recursive --only-show-errors
aws s3 ls --recursive "s3://$bucket/" > all.txt
grep -q 'docs/small.txt$' all.txt && fail "rm"
grep -q 'tree/' all.txt && fail "rm --recursive"
aws s3 rb "s3://$bucket" --force
aws s3 ls | grep -q " $bucket\$" && fail "bucket still listed after rb"
echo "awscli: all steps passed"
