#!/bin/sh
# The release tarball and the Debian package (issue 14, points 2 and 7):
# `make dist` makes a tarball that builds without .git and knows its version;
# `make deb` builds the package from it with dpkg-buildpackage, lintian-clean;
# the package holds the binary, every man page, the three completions in
# Debian's paths, the units and the conffile; installed with `dpkg -i` into a
# fresh bookworm chroot made by mmdebstrap (this machine is left alone, and
# two runs side by side do not meet), `acmectl --version`, `man -w acmectl`
# and `systemd-analyze verify` of the installed units pass, the acmectl user
# and the private directories exist, and a purge removes what it made.
. "$(dirname "$0")/../lib/test-lib.sh"
for tool in dpkg-buildpackage lintian mmdebstrap; do
	command -v "$tool" >/dev/null 2>&1 || t_skip_all "$tool is not installed (packaging/install-deps)"
done
[ "$(id -u)" -eq 0 ] || t_skip_all "the chroot install needs root"

B=$TEST_TMP/b
ROOT=$TEST_TMP/root
cleanup_root() {
	# a chroot holds no mounts of ours; only files
	rm -rf "$ROOT"
}
trap 'cleanup_root; _t_cleanup' EXIT

VERSION=$(make -s -C "$TEST_TOP" --no-print-directory -f Makefile -f - t8010-version <<'EOF'
t8010-version: ; @echo $(VERSION) $(GIT_REV)
EOF
)
REV=${VERSION#* }
VERSION=${VERSION% *}
t_like "$VERSION" '^[0-9]+\.[0-9]+\.[0-9]+' "the version ($VERSION) comes from git describe or BASE_VERSION"

# ---- make dist ------------------------------------------------------------------------------------
t_ok "make dist" make -s -C "$TEST_TOP" dist BUILD="$B"
TAR=$B/dist/acmectl-$VERSION.tar.gz
t_ok "the tarball is acmectl-$VERSION.tar.gz" test -f "$TAR"
t_is "$(tar -xzOf "$TAR" "acmectl-$VERSION/VERSION")" "$VERSION
$REV" "it carries a VERSION file: the version and the revision"
t_is "$(tar -tzf "$TAR" | grep -c '/\.git/')" "0" "and no .git"
t_is "$(tar -tzf "$TAR" | grep -c -e '/build/' -e '\.o$')" "0" "and no build products"
t_ok "it has the sources, the man pages and packaging/debian" sh -c \
	"tar -tzf '$TAR' | grep -q 'core/worker.c' && tar -tzf '$TAR' | grep -q 'man/acmectl.1' && tar -tzf '$TAR' | grep -q 'packaging/debian/control'"
cp "$TAR" "$TEST_TMP/again.tar.gz"
make -s -C "$TEST_TOP" dist BUILD="$B" >/dev/null
t_ok "make dist twice gives the same bytes (sorted, owners and times fixed)" cmp -s "$TAR" "$TEST_TMP/again.tar.gz"

# ---- make deb --------------------------------------------------------------------------------------
tree_state() { git -C "$TEST_TOP" status --porcelain --ignored -- packaging debian 2>/dev/null | grep -v '^!! build' || true; }
BEFORE=$(tree_state)
t_ok "make deb (dpkg-buildpackage from the tarball, then lintian)" make -s -C "$TEST_TOP" deb BUILD="$B"
DEB=$(ls "$B"/deb/acmectl_*.deb 2>/dev/null | head -n 1)
t_ok "a .deb was made" test -f "$DEB"
t_ok "lintian: no error or warning" lintian --allow-root --fail-on warning,error "$DEB"
t_is "$(tree_state)" "$BEFORE" "the build left nothing in the source tree"

files=$(dpkg-deb -c "$DEB" | awk '{ print $6 }')
has() { printf '%s\n' "$files" | grep -qx "$1"; }
t_ok "the binary: /usr/bin/acmectl" has ./usr/bin/acmectl
for m in "$TEST_TOP"/man/*.[1578]; do
	n=${m##*/}
	t_ok "man page $n in man${n##*.}" has "./usr/share/man/man${n##*.}/$n.gz"
done
t_ok "bash completion" has ./usr/share/bash-completion/completions/acmectl
t_ok "zsh completion" has ./usr/share/zsh/vendor-completions/_acmectl
t_ok "fish completion" has ./usr/share/fish/vendor_completions.d/acmectl.fish
for u in acmectl-worker@.service acmectl-scheduler.service acmectl-migrate.service; do
	t_ok "unit $u" has "./lib/systemd/system/$u"
done
t_ok "the example config" has ./etc/acmectl/config
t_is "$(dpkg-deb -f "$DEB" Version)" "$(printf '%s' "$VERSION" | tr - +)" "the package version is the release's"
t_like "$(dpkg-deb -f "$DEB" Depends)" 'libpq5.*' "Depends computed by shlibs (libpq5 among them)"
t_like "$(dpkg-deb -f "$DEB" Depends)" 'adduser' "and adduser, for the system user"
t_ok "/etc/acmectl/config is a conffile" sh -c "dpkg-deb --ctrl-tarfile '$DEB' | tar -xOf - ./conffiles | grep -qx /etc/acmectl/config"

# ---- dpkg -i into a fresh bookworm ------------------------------------------------------------------
libs=$(dpkg-deb -f "$DEB" Depends | tr ',' '\n' | sed 's/(.*)//; s/|.*//; s/ //g' | grep -v '^$' | tr '\n' ',')
t_ok "mmdebstrap: a bookworm chroot with man-db, systemd and the dependencies" \
	mmdebstrap --quiet --variant=apt --include="${libs}man-db,systemd" bookworm "$ROOT"
cp "$DEB" "$ROOT/tmp/acmectl.deb"
t_ok "dpkg -i acmectl.deb in the chroot" chroot "$ROOT" dpkg -i /tmp/acmectl.deb
t_like "$(chroot "$ROOT" acmectl --version 2>&1 | head -n 1)" "^acmectl $VERSION \\(revision $REV," \
	"acmectl --version shows the release's version and revision"
t_is "$(chroot "$ROOT" man -w acmectl 2>&1)" "/usr/share/man/man1/acmectl.1.gz" "man -w acmectl finds the page"
t_is "$(chroot "$ROOT" man -w acmectl-smoke-test 2>&1)" "/usr/share/man/man1/acmectl-smoke-test.1.gz" \
	"and every other page, e.g. acmectl-smoke-test(1)"
t_ok "systemd-analyze verify on the installed units (their man pages checked too)" chroot "$ROOT" \
	systemd-analyze verify /lib/systemd/system/acmectl-migrate.service \
	/lib/systemd/system/acmectl-scheduler.service '/lib/systemd/system/acmectl-worker@default.service'
t_is "$ERR" "" "verify has nothing to say"
t_like "$(chroot "$ROOT" getent passwd acmectl)" '^acmectl:x:[0-9]+:[0-9]+:.*:/var/lib/acmectl:/usr/sbin/nologin$' \
	"postinst made the acmectl system user, no login"
t_is "$(chroot "$ROOT" stat -c '%a %U %G' /var/lib/acmectl)" "750 acmectl acmectl" "/var/lib/acmectl: private to acmectl"
t_is "$(chroot "$ROOT" stat -c '%a %U %G' /etc/acmectl/credentials)" "700 root root" "/etc/acmectl/credentials: root only"
t_is "$(chroot "$ROOT" systemctl is-enabled acmectl-migrate.service 2>/dev/null)" "disabled" \
	"nothing is enabled on install (the credentials come first)"
t_ok "dpkg -i again (an upgrade in place) succeeds" chroot "$ROOT" dpkg -i /tmp/acmectl.deb
t_ok "dpkg --purge acmectl" chroot "$ROOT" dpkg --purge acmectl
t_ok "the purge removed /var/lib/acmectl and /etc/acmectl" sh -c "! test -e '$ROOT/var/lib/acmectl' && ! test -e '$ROOT/etc/acmectl'"
t_ok "and the binary" sh -c "! test -e '$ROOT/usr/bin/acmectl'"
t_done
