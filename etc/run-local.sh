#!/usr/bin/env bash
# run-local.sh - `make run`: augurd on an embedded default, six dir nodes under ./var.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
var="$top/var"
mkdir -p "$var"/node{1..6} "$var/state"
conf="$var/augur.conf"
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
CONF
cat <<MSG

augur is running on six dir nodes under $var (4 data + 2 parity shards).
In another terminal:

  export AUGUR_CONF=$conf
  $top/build/augur mb demo
  $top/build/augur put /etc/os-release demo/os-release
  $top/build/augur ls demo
  $top/build/augur get demo/os-release -
  rm -rf $var/node3 && mkdir $var/node3     # lose a disk...
  $top/build/augur get demo/os-release -    # ...still readable
  $top/build/augur heal                     # ...and back to full redundancy

Ctrl-C stops augurd.

MSG
exec "$top/build/augurd" -c "$conf"
