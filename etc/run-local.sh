#!/usr/bin/env bash
# run-local.sh - `make run`: augurd on an embedded default, six dir nodes under ./var.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
var="$top/var"
mkdir -p "$var"/node{1..6} "$var/state" "$top/mnt"
# a mount left over from a run that was killed
mountpoint -q "$top/mnt" && { umount "$top/mnt" 2>/dev/null || umount -l "$top/mnt"; }
conf="$var/augur.conf"
creds="$var/credentials"
if [ ! -s "$creds" ]; then
    # a fresh key pair for this checkout, readable by its owner only
    ( umask 077; printf 'augur%s %s\n' "$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')" \
        "$(head -c 30 /dev/urandom | base64 | tr -d '/+=' | head -c 40)" > "$creds" )
fi
chmod 600 "$creds"
token="$var/admin-token"
[ -s "$token" ] || ( umask 077; head -c 30 /dev/urandom | base64 | tr -d '/+=' > "$token" )
chmod 600 "$token"
read -r access_key secret_key < "$creds"
cat > "$conf" <<CONF
# written by make run; edit etc/augur.conf for the documented sample
[general]
log_level = info
state_dir = $var/state

[backend]
data_shards = 4
parity_shards = 2
nodes = dir:$var/node1, dir:$var/node2, dir:$var/node3,
        dir:$var/node4, dir:$var/node5, dir:$var/node6
scrub_interval = 1h

[gateway]
listen = 127.0.0.1:9000
credentials = $creds

[cache]
dir = $var/cache
ssd_size = 1G
ssd_min_free = 256M
ram_policy = learned
ssd_policy = learned

[predictor]
model = markov

[admin]
listen = 127.0.0.1:9001
token_file = $token

[fuse]
mountpoint = $top/mnt
CONF
cat <<MSG

augur is running on six dir nodes under $var (4 data + 2 parity shards).
The buckets are mounted at $top/mnt and served over S3 at http://127.0.0.1:9000.
In another terminal:

  mkdir $top/mnt/demo && cp /etc/os-release $top/mnt/demo/   # a bucket, a file

  export AWS_ACCESS_KEY_ID=$access_key AWS_SECRET_ACCESS_KEY=$secret_key
  export AWS_DEFAULT_REGION=us-east-1
  aws --endpoint-url http://127.0.0.1:9000 s3 ls s3://demo
  aws --endpoint-url http://127.0.0.1:9000 s3 cp /etc/hostname s3://demo/
  ls -l $top/mnt/demo                                        # at once in the mount

or with the augur command line, straight on the nodes:

  export AUGUR_CONF=$conf
  $top/build/augur ls demo
  $top/build/augur get demo/os-release -
  rm -rf $var/node3 && mkdir $var/node3     # lose a disk...
  $top/build/augur get demo/os-release -    # ...still readable
  $top/build/augur heal                     # ...and back to full redundancy
  $top/build/augur status                   # nodes, cache tiers, prefetch
  curl -H "Authorization: Bearer \$(cat $token)" http://127.0.0.1:9001/metrics

Ctrl-C stops augurd (staged writes are uploaded and the mount is unmounted first).

MSG
exec "$top/build/augurd" -c "$conf"
