#!/bin/bash
# packaging/build-deb.sh - build build/pkg/augur_VERSION_ARCH.deb from build/augur and
# build/augurd (run `make` first) with dpkg-deb; no debhelper, no fakeroot needed.
# Needs: dpkg-dev (dpkg-shlibdeps, dpkg-architecture), binutils (strip).
# Prints the path of the .deb on stdout.
# shellcheck source=packaging/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

check_binaries
command -v dpkg-deb >/dev/null || die "dpkg-deb not found"
command -v dpkg-shlibdeps >/dev/null || die "dpkg-shlibdeps not found: apt-get install dpkg-dev"

ARCH=$(dpkg --print-architecture)
ROOT=$PKGDIR/deb-root
DEB=$PKGDIR/augur_${VERSION}_${ARCH}.deb
mkdir -p "$PKGDIR"

stage_tree "$ROOT"

# Debian-only files: the changelog (native package) and the control area.
DATE=$(LC_ALL=C date -u -R -d "@$(pkg_date_epoch)")
sed -e "s/@VERSION@/$VERSION/g" -e "s/@DATE@/$DATE/g" "$HERE/debian/changelog.in" |
    gzip -9n >"$ROOT/usr/share/doc/augur/changelog.gz"
chmod 0644 "$ROOT/usr/share/doc/augur/changelog.gz"

# Library dependencies from the binaries' DT_NEEDED entries and the shlibs/symbols files
# of the installed libraries. dpkg-shlibdeps wants a debian/control: give it a minimal one.
SHL=$PKGDIR/shlibdeps
rm -rf "$SHL" && mkdir -p "$SHL/debian"
printf 'Source: augur\n\nPackage: augur\nArchitecture: any\n' >"$SHL/debian/control"
SHLIBS=$(cd "$SHL" && dpkg-shlibdeps -O "$ROOT/usr/bin/augur" "$ROOT/usr/bin/augurd" \
    2>"$SHL/warnings" | sed -n 's/^shlibs:Depends=//p') ||
    { cat "$SHL/warnings" >&2; die "dpkg-shlibdeps failed"; }
[ -n "$SHLIBS" ] || { cat "$SHL/warnings" >&2; die "dpkg-shlibdeps found no dependencies"; }
# fuse3: fusermount3 and /etc/fuse.conf for the mount; adduser: the postinst.
DEPENDS="$SHLIBS, adduser, fuse3"

install -d -m 0755 "$ROOT/DEBIAN"
SIZE=$(du -sk --exclude=DEBIAN "$ROOT" | cut -f1)
sed -e "s/@VERSION@/$VERSION/" -e "s/@ARCH@/$ARCH/" -e "s/@SIZE@/$SIZE/" \
    -e "s/@DEPENDS@/$DEPENDS/" "$HERE/debian/control.in" >"$ROOT/DEBIAN/control"
install -m 0644 "$HERE/debian/conffiles" "$ROOT/DEBIAN/conffiles"
install -m 0755 "$HERE/debian/postinst" "$HERE/debian/prerm" "$HERE/debian/postrm" \
    "$ROOT/DEBIAN/"
(cd "$ROOT" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z |
    xargs -0 md5sum) >"$ROOT/DEBIAN/md5sums"
chmod 0644 "$ROOT/DEBIAN/md5sums"

rm -f "$DEB"
SOURCE_DATE_EPOCH=$(pkg_date_epoch) \
    dpkg-deb --root-owner-group -Zxz --build "$ROOT" "$DEB" >/dev/null
echo "$DEB"
