# cli_lib.sh - checks for run_cli_tests.sh (sourced): run a command capturing its output, then
# state what must hold. Expects $T (scratch directory) to be set by the caller.

passed=0
failed=0

section() {
    echo "== $1"
}

# run CMD...: run it with stdin from /dev/null; stdout in $T/out, stderr in $T/err, status in rc.
run() {
    "$@" </dev/null >"$T/out" 2>"$T/err"
    rc=$?
}

pass() {
    passed=$((passed + 1))
    echo "ok    $1"
}

# fail DESC: count a failure and show what the last command said.
fail() {
    failed=$((failed + 1))
    echo "FAIL  $1"
    echo "      exit status $rc"
    if [ -s "$T/err" ]; then head -n 8 "$T/err" | sed 's/^/      stderr| /'; fi
}

# check DESC CMD...: passes when CMD succeeds.
check() {
    local desc=$1
    shift
    if "$@"; then pass "$desc"; else fail "$desc"; fi
}

# True when stderr holds no report from AddressSanitizer, LeakSanitizer or UBSan.
no_sanitizer_report() {
    ! grep -qE "AddressSanitizer|LeakSanitizer|runtime error:" "$T/err"
}

# expect_rc STATUS DESC: the last command exited with STATUS and no sanitizer complained.
expect_rc() {
    if [ "$rc" -eq "$1" ] && no_sanitizer_report; then pass "$2"; else fail "$2 (want exit $1)"; fi
}

# expect_ok DESC: exit 0 and nothing on stderr.
expect_ok() {
    if [ "$rc" -eq 0 ] && [ ! -s "$T/err" ]; then pass "$1"; else fail "$1 (want exit 0, quiet)"; fi
}

# expect_fail STATUS DESC [PROGRAM]: exit STATUS, and stderr is exactly one line
# "PROGRAM: ..." (PROGRAM defaults to augur).
expect_fail() {
    local prog=${3:-augur}
    if [ "$rc" -eq "$1" ] && [ "$(wc -l <"$T/err")" -eq 1 ] &&
        head -n 1 "$T/err" | grep -q "^$prog: ." && no_sanitizer_report; then
        pass "$2 fails: exit $1, one line on stderr"
    else
        fail "$2 (want exit $1 and one line '$prog: ...' on stderr)"
    fi
}

# check_err TEXT: the last command's stderr mentions TEXT.
check_err() {
    check "  stderr says '$1'" grep -qF -- "$1" "$T/err"
}

# Every directory and file (with its size) under the node directories, to compare.
snapshot() {
    (cd "$T" && find n1 n2 n3 n4 n5 n6 \( -type d -printf 'd %p\n' \) -o \
        \( -type f -printf 'f %p %s\n' \) | LC_ALL=C sort)
}

# True when DIR holds no temporary file of `augur get` (DEST.augur-XXXXXX).
no_temp_files() {
    [ -z "$(find "$1" -maxdepth 1 -name '*.augur-*' -print -quit)" ]
}

# Print the totals and exit non-zero if anything failed.
finish() {
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
    exit
}
