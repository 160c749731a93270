#!/usr/bin/env bash
# run_e2e.sh - the gateway's end-to-end tests: real S3 clients against a real augurd on loopback
# (boto3, the AWS CLI, s3cmd, libs3's `s3`, the AWS SDK for JavaScript v3). `make test` runs it.
#
# It installs nothing. It needs:
#   Debian: python3 python3-pytest python3-boto3 python3-requests awscli s3cmd libs3-2
#           nodejs npm
#   npm:    `npm ci --prefix tests/gateway/e2e/js` (@aws-sdk/client-s3, pinned by its
#           package-lock.json)
#   and the daemon: build/asan/augurd (make build/asan/augurd), or AUGURD_BIN.
#
# usage: tests/gateway/run_e2e.sh [PYTEST_ARGS...]     e.g. -k multipart, -x, -v
# env:   AUGURD_BIN (default build/asan/augurd), AUGUR_TEST_TMP (scratch, default /tmp),
#        AUGUR_E2E_TIMEOUT (seconds for the whole run, default 1500), AUGUR_E2E_KEEP=1 keeps the
#        scratch directories.
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
e2e=$top/tests/gateway/e2e
export AUGURD_BIN=${AUGURD_BIN:-$top/build/asan/augurd}
export AUGUR_TEST_TMP=${AUGUR_TEST_TMP:-/tmp}
export PYTHONDONTWRITEBYTECODE=1

# Debian's boto3 and pytest are installed for /usr/bin/python3 only (a python3 earlier on PATH,
# pyenv's for one, does not see them).
py=/usr/bin/python3

problems=()
[[ -x $AUGURD_BIN ]] || problems+=("$AUGURD_BIN is not built (make build/asan/augurd)")
[[ -x $py ]] || problems+=("$py is missing (Debian: python3)")
if [[ -x $py ]]; then
    for mod in pytest:python3-pytest boto3:python3-boto3 requests:python3-requests; do
        $py -c "import ${mod%%:*}" 2>/dev/null || problems+=("python module ${mod%%:*} is missing (Debian: ${mod##*:})")
    done
fi
[[ -x ${AWS_CLI:-/usr/bin/aws} ]] || problems+=("${AWS_CLI:-/usr/bin/aws} is missing (Debian: awscli)")
[[ -x ${S3CMD:-/usr/bin/s3cmd} ]] || problems+=("${S3CMD:-/usr/bin/s3cmd} is missing (Debian: s3cmd)")
[[ -x ${S3_TOOL:-/usr/bin/s3} ]] || problems+=("${S3_TOOL:-/usr/bin/s3} is missing (Debian: libs3-2)")
command -v node >/dev/null || problems+=("node is missing (Debian: nodejs)")
[[ -d $e2e/js/node_modules/@aws-sdk/client-s3 ]] ||
    problems+=("@aws-sdk/client-s3 is not installed: npm ci --prefix tests/gateway/e2e/js")
if ((${#problems[@]})); then
    echo "run_e2e.sh: cannot run the gateway end-to-end tests:" >&2
    printf '  %s\n' "${problems[@]}" >&2
    exit 2
fi

mkdir -p "$AUGUR_TEST_TMP"
cd "$e2e"
# SIGINT on time-out: pytest then runs its finalizers, which stop augurd.
exec timeout -s INT -k 60 "${AUGUR_E2E_TIMEOUT:-1500}" \
    "$py" -m pytest -p no:cacheprovider -q -rfE --tb=short "$@" "$e2e"
