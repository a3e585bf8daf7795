# deb.mk — `make deb`: the Debian package, built the way a distribution would,
# from the `make dist` tarball unpacked in build/deb (never in the source
# tree) with packaging/debian as its debian/ directory, by
# `dpkg-buildpackage -us -uc -b`, then checked by lintian (any warning or
# error fails; overrides live in packaging/debian/acmectl.lintian-overrides,
# each with its reason). The package lands in build/deb/acmectl_*.deb.
# The Debian version is the release version with '-' made '+' (a native
# package has no revision): 0.2.0-3-gabc123 becomes 0.2.0+3+gabc123.
DEB_DIR     := $(BUILD)/deb
DEB_VERSION := $(subst -,+,$(VERSION))

.PHONY: deb
deb: dist
	$(Q)rm -rf $(DEB_DIR) && mkdir -p $(DEB_DIR)
	$(Q)tar -xzf $(DIST_TAR) -C $(DEB_DIR)
	$(Q)cp -r packaging/debian $(DEB_DIR)/$(DIST_NAME)/debian
	$(Q)sed -i '1s/(.*)/($(DEB_VERSION))/' $(DEB_DIR)/$(DIST_NAME)/debian/changelog
	$(Q)cd $(DEB_DIR)/$(DIST_NAME) && env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS dpkg-buildpackage -us -uc -b >../build.log 2>&1 || \
		{ tail -40 ../build.log >&2; echo "make deb: dpkg-buildpackage failed; the log: $(DEB_DIR)/build.log" >&2; exit 1; }
	$(Q)lintian --allow-root --fail-on warning,error --suppress-tags-from-file /dev/null $(DEB_DIR)/*.changes
	@ls $(DEB_DIR)/acmectl_*.deb
