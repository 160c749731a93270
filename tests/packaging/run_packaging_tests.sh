#!/bin/bash
# tests/packaging/run_packaging_tests.sh - build the .deb and the .rpm, install the .deb with
# dpkg on THIS machine (needs root; meant for a throwaway CI machine), check it, reinstall it
# over a modified conffile, run lintian, inspect the .rpm, then purge the package.
#
# Assumes build/augur and build/augurd exist (`make`). Needs dpkg-dev, lintian, rpm.
# A pre-existing /etc/augur, /var/lib/augur or /var/cache/augur (e.g. from `make install`)
# is moved aside for the test and put back afterwards. The augur system user stays after
# the purge (postrm keeps it by design); it is removed only if this test created it and
# AUGUR_TEST_DELUSER=1.
set -uo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$TOP" || exit 1
PASS=0
FAIL=0
ok()   { PASS=$((PASS + 1)); echo "ok   - $*"; }
bad()  { FAIL=$((FAIL + 1)); echo "FAIL - $*"; }
check() { # check DESCRIPTION COMMAND...
    local d=$1; shift
    if "$@" >/tmp/augur-pkgtest.out 2>&1; then ok "$d"; else bad "$d"; sed 's/^/    /' /tmp/augur-pkgtest.out | tail -20; fi
}
finish() {
    echo "$PASS passed, $FAIL failed"
    [ "$FAIL" -eq 0 ]
    exit $?
}
fatal() { bad "$*"; finish; }

[ "$(id -u)" -eq 0 ] || fatal "must run as root (installs the .deb with dpkg)"
for b in build/augur build/augurd; do
    [ -x "$b" ] || fatal "$b is missing: run 'make' first"
done
for t in dpkg-deb dpkg-shlibdeps lintian rpmbuild rpm; do
    command -v "$t" >/dev/null || fatal "$t not found (apt-get install dpkg-dev lintian rpm)"
done
if dpkg-query -W -f='${Status}' augur 2>/dev/null | grep -q 'installed'; then
    fatal "package augur is already installed here; refusing to purge it"
fi

VERSION=$(sed -n 's/^#define[[:space:]]\+AUGUR_VERSION[[:space:]]\+"\([^"]*\)".*/\1/p' common/common.h)
USER_EXISTED=0
getent passwd augur >/dev/null && USER_EXISTED=1

# Move pre-existing state aside; restore it (and purge the package) on any exit.
SAVE=$(mktemp -d /tmp/augur-pkgtest-save.XXXXXX)
for p in /etc/augur /var/lib/augur /var/cache/augur; do
    if [ -e "$p" ]; then mkdir -p "$SAVE$(dirname "$p")" && mv "$p" "$SAVE$p"; fi
done
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
    if dpkg-query -W -f='${Status}' augur 2>/dev/null | grep -q 'installed\|config-files'; then
        dpkg --purge augur >/dev/null 2>&1
    fi
    for p in /etc/augur /var/lib/augur /var/cache/augur; do
        if [ -e "$SAVE$p" ]; then rm -rf "$p"; mv "$SAVE$p" "$p"; fi
    done
    rm -rf "$SAVE"
    if [ "$USER_EXISTED" = 0 ] && [ "${AUGUR_TEST_DELUSER:-0}" = 1 ] &&
        getent passwd augur >/dev/null; then
        deluser --system --quiet augur >/dev/null 2>&1
        getent group augur >/dev/null && delgroup --system --quiet augur >/dev/null 2>&1
    fi
}
trap cleanup EXIT

# ---- build -------------------------------------------------------------------------------
DEB=build/pkg/augur_${VERSION}_$(dpkg --print-architecture).deb
RPM=build/pkg/augur-${VERSION}-1.$(uname -m).rpm
check "build-deb.sh builds $DEB" bash -c "packaging/build-deb.sh && test -f $DEB"
check "build-rpm.sh builds $RPM" bash -c "packaging/build-rpm.sh && test -f $RPM"
[ -f "$DEB" ] || fatal "no .deb, cannot go on"

# ---- install -----------------------------------------------------------------------------
check "dpkg -i installs the .deb" dpkg -i "$DEB"
check "package is installed" bash -c "dpkg-query -W -f='\${Status}' augur | grep -qx 'install ok installed'"
check "augurd --version from /usr/bin prints $VERSION" \
    bash -c "/usr/bin/augurd --version | grep -qw '$VERSION'"
check "augur --help from /usr/bin exits 0" /usr/bin/augur --help
check "conffile /etc/augur/augur.conf registered" \
    bash -c "dpkg-query -W -f='\${Conffiles}' augur | grep -q '^ /etc/augur/augur.conf '"
check "conffile /etc/augur/credentials.example registered" \
    bash -c "dpkg-query -W -f='\${Conffiles}' augur | grep -q '^ /etc/augur/credentials.example '"
check "augur system user exists" getent passwd augur
check "augur group exists" getent group augur
check "augur user's home is /var/lib/augur" \
    bash -c "[ \"\$(getent passwd augur | cut -d: -f6)\" = /var/lib/augur ]"
check "/etc/augur/augur.conf installed" test -f /etc/augur/augur.conf
check "/etc/augur/augur.conf same as etc/augur.conf" cmp /etc/augur/augur.conf etc/augur.conf
check "/etc/augur/credentials is 600 augur:augur" \
    bash -c "[ \"\$(stat -c '%a %U %G' /etc/augur/credentials)\" = '600 augur augur' ]"
check "/var/lib/augur owned by augur" \
    bash -c "[ \"\$(stat -c '%U %G' /var/lib/augur)\" = 'augur augur' ]"
check "/var/cache/augur owned by augur" \
    bash -c "[ \"\$(stat -c '%U %G' /var/cache/augur)\" = 'augur augur' ]"
for u in augurd.service augur-mount@.service; do
    check "unit /lib/systemd/system/$u installed" test -f "/lib/systemd/system/$u"
done
check "augurd.service: Type=notify, User=augur, ExecStart, ExecReload" bash -c "
    u=/lib/systemd/system/augurd.service
    grep -qx 'Type=notify' \$u && grep -qx 'User=augur' \$u &&
    grep -qx 'ExecStart=/usr/bin/augurd -c /etc/augur/augur.conf' \$u &&
    grep -qx 'ExecReload=/bin/kill -HUP \$MAINPID' \$u &&
    grep -qx 'StateDirectory=augur' \$u && grep -qx 'CacheDirectory=augur' \$u"
check "augur-mount@.service: mount -f %f / umount %f" bash -c "
    u=/lib/systemd/system/augur-mount@.service
    grep -qx 'ExecStart=/usr/bin/augur -c /etc/augur/augur.conf mount -f %f' \$u &&
    grep -qx 'ExecStop=/usr/bin/augur umount %f' \$u"
if command -v systemd-analyze >/dev/null; then
    check "systemd-analyze verify accepts the units" bash -c "
        out=\$(systemd-analyze verify /lib/systemd/system/augurd.service \
            /lib/systemd/system/augur-mount@.service:augur-mount@mnt-augur.service 2>&1)
        echo \"\$out\"; ! echo \"\$out\" | grep -i 'augur'"
fi

# ---- reinstall over a modified conffile -----------------------------------------------------
echo "# local change by run_packaging_tests.sh" >>/etc/augur/augur.conf
echo "AKIDTEST000000000000 secretsecretsecret" >>/etc/augur/credentials
check "dpkg -i --force-confold reinstalls the .deb" dpkg -i --force-confold "$DEB"
check "modified /etc/augur/augur.conf kept across reinstall" \
    grep -qx '# local change by run_packaging_tests.sh' /etc/augur/augur.conf
check "/etc/augur/credentials kept across reinstall, still 600" bash -c "
    grep -q AKIDTEST000000000000 /etc/augur/credentials &&
    [ \"\$(stat -c '%a %U' /etc/augur/credentials)\" = '600 augur' ]"

# ---- lintian -----------------------------------------------------------------------------
lintian --fail-on error "$DEB" >/tmp/augur-lintian.out 2>&1
LRC=$?
if [ "$LRC" -eq 0 ] && ! grep -q '^E:' /tmp/augur-lintian.out; then
    ok "lintian reports no errors ($(grep -c '^W:' /tmp/augur-lintian.out) warnings)"
else
    bad "lintian reports errors"
fi
sed 's/^/    /' /tmp/augur-lintian.out | grep -v 'running with root privileges'

# ---- rpm ---------------------------------------------------------------------------------
if [ -f "$RPM" ]; then
    check "rpm -qpl lists /usr/bin/augurd" bash -c "rpm -qpl $RPM | grep -qx /usr/bin/augurd"
    check "rpm -qpl lists /usr/bin/augur" bash -c "rpm -qpl $RPM | grep -qx /usr/bin/augur"
    check "rpm -qpl lists /etc/augur/augur.conf" bash -c "rpm -qpl $RPM | grep -qx /etc/augur/augur.conf"
    check "rpm -qpl lists augurd.service" bash -c "rpm -qpl $RPM | grep -q '/systemd/system/augurd.service$'"
    check "rpm -qp --configfiles lists /etc/augur/augur.conf" \
        bash -c "rpm -qp --configfiles $RPM | grep -qx /etc/augur/augur.conf"
    check "rpm version is $VERSION-1" \
        bash -c "[ \"\$(rpm -qp --qf '%{VERSION}-%{RELEASE}' $RPM)\" = '$VERSION-1' ]"
    check "rpm %pre creates the augur user" bash -c "rpm -qp --scripts $RPM | grep -q 'useradd -r .* augur'"
else
    bad "no .rpm to inspect"
fi

# ---- purge -------------------------------------------------------------------------------
check "dpkg --purge removes the package" dpkg --purge augur
check "package no longer known to dpkg" \
    bash -c "! dpkg-query -W -f='\${Status}' augur 2>/dev/null | grep -q installed"
check "/usr/bin/augurd removed" test ! -e /usr/bin/augurd
check "/etc/augur removed by purge" test ! -e /etc/augur
check "/var/lib/augur and /var/cache/augur removed by purge" \
    bash -c "test ! -e /var/lib/augur && test ! -e /var/cache/augur"

finish
