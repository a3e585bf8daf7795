#!/bin/sh
# make install honours PREFIX and DESTDIR and installs the binary, every man
# page and the three completion scripts; the installed binary runs.
. "$(dirname "$0")/../lib/test-lib.sh"

dest="$TEST_TMP/dest"
t_ok "make install PREFIX=/usr DESTDIR=..." make -s -C "$TEST_TOP" install PREFIX=/usr DESTDIR="$dest"
t_ok "the binary is installed" test -x "$dest/usr/bin/acmectl"
t_ok "the installed binary runs" "$dest/usr/bin/acmectl" --version
for m in "$TEST_TOP"/man/*.[1578]; do
	sec=${m##*.}
	t_ok "man page $(basename "$m") installed in man$sec" test -f "$dest/usr/share/man/man$sec/$(basename "$m")"
done
t_ok "bash completion installed" test -f "$dest/usr/share/bash-completion/completions/acmectl"
t_ok "zsh completion installed" test -f "$dest/usr/share/zsh/vendor-completions/_acmectl"
t_ok "fish completion installed" test -f "$dest/usr/share/fish/vendor_completions.d/acmectl.fish"
t_is "$(find "$dest" -path "$dest/usr" -prune -o -print | grep -v "^$dest\$")" "" "nothing is installed outside PREFIX"
t_ok "make uninstall removes them" make -s -C "$TEST_TOP" uninstall PREFIX=/usr DESTDIR="$dest"
t_is "$(find "$dest" -type f | wc -l)" "0" "no file remains after uninstall"
t_done
