#!/bin/bash
# packaging/build-rpm.sh - build build/pkg/augur-VERSION-1.ARCH.rpm from build/augur and
# build/augurd (run `make` first) with rpmbuild (Debian package "rpm"). Binary-only: the
# spec copies the staged tree, nothing is compiled inside rpmbuild.
# Prints the path of the .rpm on stdout.
# shellcheck source=packaging/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

check_binaries
command -v rpmbuild >/dev/null || die "rpmbuild not found: apt-get install rpm"

ARCH=$(uname -m)
STAGE=$PKGDIR/rpm-root
TOPDIR=$PKGDIR/rpmbuild
RPM=$PKGDIR/augur-${VERSION}-1.${ARCH}.rpm
mkdir -p "$PKGDIR"

stage_tree "$STAGE"
rm -rf "$TOPDIR"
mkdir -p "$TOPDIR"/{BUILD,BUILDROOT,RPMS,SOURCES,SPECS,SRPMS}

SOURCE_DATE_EPOCH=$(pkg_date_epoch) \
rpmbuild -bb --quiet \
    --define "_topdir $TOPDIR" \
    --define "_rpmdir $TOPDIR/RPMS" \
    --define "_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm" \
    --define "augur_version $VERSION" \
    --define "augur_stage $STAGE" \
    --target "$ARCH" \
    "$HERE/rpm/augur.spec" >"$TOPDIR/rpmbuild.log" 2>&1 ||
    { cat "$TOPDIR/rpmbuild.log" >&2; die "rpmbuild failed"; }

OUT=$TOPDIR/RPMS/augur-${VERSION}-1.${ARCH}.rpm
[ -f "$OUT" ] || { cat "$TOPDIR/rpmbuild.log" >&2; die "rpmbuild produced no $OUT"; }
mv -f "$OUT" "$RPM"
echo "$RPM"
