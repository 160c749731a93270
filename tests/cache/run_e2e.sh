#!/usr/bin/env bash
# run_e2e.sh - the cache's end-to-end tests: two augurd over one store and one real Redis.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
export AUGURD_BIN=${AUGURD_BIN:-$top/build/asan/augurd}
export PYTHONDONTWRITEBYTECODE=1
cd "$top"
exec /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/cache/e2e "$@"
