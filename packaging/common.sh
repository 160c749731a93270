# shellcheck shell=bash
# packaging/common.sh - shared by build-deb.sh and build-rpm.sh (sourced, not run).
#
# Provides: $TOP (the checkout), $BUILD, $PKGDIR (build/pkg), $VERSION (AUGUR_VERSION from
# common/common.h), die(), and stage_tree DIR which lays out the installed files of the
# package under DIR (the same tree feeds the .deb and the .rpm).

set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-$TOP/build}
PKGDIR=${PKGDIR:-$BUILD/pkg}
HERE=$TOP/packaging

die() { echo "${0##*/}: $*" >&2; exit 1; }

VERSION=$(sed -n 's/^#define[[:space:]]\+AUGUR_VERSION[[:space:]]\+"\([^"]*\)".*/\1/p' \
    "$TOP/common/common.h")
[ -n "$VERSION" ] || die "cannot read AUGUR_VERSION from common/common.h"

# Date of the last commit (reproducible); now when not in a git checkout.
pkg_date_epoch() {
    if [ -n "${SOURCE_DATE_EPOCH:-}" ]; then echo "$SOURCE_DATE_EPOCH"; return; fi
    git -C "$TOP" log -1 --format=%ct 2>/dev/null || date +%s
}

check_binaries() {
    local b
    for b in augur augurd; do
        [ -x "$BUILD/$b" ] || die "$BUILD/$b is missing: run 'make' first"
    done
}

# stage_tree DIR: the files every package installs, with their final modes.
stage_tree() {
    local d=$1
    rm -rf "$d"
    install -d -m 0755 "$d/usr/bin" "$d/etc/augur" "$d/lib/systemd/system" \
        "$d/usr/share/doc/augur/examples"
    # Stripped copies (the build keeps -g; lintian objects to unstripped binaries).
    local b
    for b in augur augurd; do
        install -m 0755 "$BUILD/$b" "$d/usr/bin/$b"
        if [ "${AUGUR_PKG_NOSTRIP:-0}" != 1 ]; then
            strip --strip-unneeded --remove-section=.comment --remove-section=.note \
                "$d/usr/bin/$b"
        fi
    done
    install -m 0644 "$TOP/etc/augur.conf" "$d/etc/augur/augur.conf"
    install -m 0644 "$TOP/etc/credentials.example" "$d/etc/augur/credentials.example"
    install -m 0644 "$HERE/systemd/augurd.service" "$HERE/systemd/augur-mount@.service" \
        "$d/lib/systemd/system/"
    install -m 0644 "$HERE/debian/copyright" "$d/usr/share/doc/augur/copyright"
    install -m 0644 "$TOP/README.md" "$d/usr/share/doc/augur/README.md"
    gzip -9n "$d/usr/share/doc/augur/README.md"
    install -m 0644 "$HERE/examples/augurd-fuse.conf" \
        "$d/usr/share/doc/augur/examples/augurd-fuse.conf"
}
