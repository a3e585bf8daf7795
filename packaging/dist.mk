# dist.mk — `make dist`: the release tarball build/dist/acmectl-VERSION.tar.gz,
# made of the files git tracks (as they are in the work tree) plus a VERSION
# file, so a build from the tarball, without .git, knows its version and
# revision (the Makefile reads it). Reproducible: sorted, owned by root, every
# mtime the last commit's.
DIST_NAME := acmectl-$(VERSION)
DIST_DIR  := $(BUILD)/dist
DIST_TAR  := $(DIST_DIR)/$(DIST_NAME).tar.gz

.PHONY: dist
dist:
	$(Q)test -n "$(IN_GIT)" || { echo "make dist: needs a git checkout" >&2; exit 1; }
	$(Q)rm -rf $(DIST_DIR)/$(DIST_NAME) $(DIST_TAR) && mkdir -p $(DIST_DIR)/$(DIST_NAME)
	$(Q)git ls-files | while IFS= read -r f; do [ ! -e "$$f" ] || printf '%s\n' "$$f"; done | \
		tar --verbatim-files-from -T - -cf - | tar -xf - -C $(DIST_DIR)/$(DIST_NAME)
	$(Q)printf '%s\n%s\n' '$(VERSION)' '$(GIT_REV)' > $(DIST_DIR)/$(DIST_NAME)/VERSION
	$(Q)tar -C $(DIST_DIR) --sort=name --owner=0 --group=0 --numeric-owner \
		--mtime=@$$(git log -1 --format=%ct) -czf $(DIST_TAR) $(DIST_NAME)
	$(Q)rm -rf $(DIST_DIR)/$(DIST_NAME)
	@echo $(DIST_TAR)

# the version this tree builds as, for scripts (packaging/ci/pipeline.sh)
.PHONY: print-version
print-version:
	@echo $(VERSION)
