# container.mk — container targets (packaging/container):
#   make image           the acmectl image, tagged VERSION, the git revision
#                        and latest (podman; the debian:bookworm base images
#                        are made from Debian's packages by mmdebstrap when
#                        missing, as no registry is reachable here)
#   make compose-images  the PostgreSQL and Redis images of the dev/test stacks
#   make compose-check   static checks: docker-compose config of each stack,
#                        yamllint, packaging/container/check (policy, runtime
#                        libraries against ldd); run by tests/t/t8030
#   make compose-test    the test stack for real: compose.yml + compose.test.yml
#                        up until the smoke test exits; its status is ours
# The README ("Deploying with containers") says which of these ran here.
PODMAN       ?= podman --runtime runc
PODMAN_LIMITS = --ulimit nofile=4096:4096 --ulimit nproc=4096:4096
IMAGE        ?= localhost/acmectl
CONTAINER    := packaging/container
IMAGE_CREATED = $(shell date -u -d @$$(git log -1 --format=%ct 2>/dev/null || date +%s) +%Y-%m-%dT%H:%M:%SZ)

.PHONY: image base-images compose-images compose-check compose-test
base-images:
	$(Q)if ! podman image exists localhost/debian:bookworm; then \
		mkdir -p $(BUILD)/container && \
		mmdebstrap --quiet --variant=minbase bookworm $(BUILD)/container/bookworm.tar && \
		podman import --quiet $(BUILD)/container/bookworm.tar localhost/debian:bookworm >/dev/null && \
		rm -f $(BUILD)/container/bookworm.tar; fi
	$(Q)podman image exists localhost/debian:bookworm-slim || \
		podman tag localhost/debian:bookworm localhost/debian:bookworm-slim

image: base-images
	$(Q)$(PODMAN) build --pull=never --format docker $(PODMAN_LIMITS) -f $(CONTAINER)/Containerfile \
		--build-arg VERSION=$(VERSION) --build-arg GIT_REV=$(GIT_REV) \
		--build-arg CREATED=$(IMAGE_CREATED) \
		-t $(IMAGE):$(VERSION) -t $(IMAGE):$(GIT_REV) -t $(IMAGE):latest .
	$(Q)$(PODMAN) run --rm $(PODMAN_LIMITS) $(IMAGE):$(VERSION) --version

compose-images: base-images
	$(Q)$(PODMAN) build --pull=never --format docker $(PODMAN_LIMITS) -f $(CONTAINER)/postgres.Containerfile -t localhost/acmectl-postgres:15 .
	$(Q)$(PODMAN) build --pull=never --format docker $(PODMAN_LIMITS) -f $(CONTAINER)/redis.Containerfile -t localhost/acmectl-redis:7 .

compose-check: acmectl
	$(Q)docker-compose -f $(CONTAINER)/compose.yml config -q
	$(Q)docker-compose -f $(CONTAINER)/compose.yml -f $(CONTAINER)/compose.test.yml config -q
	$(Q)ACMECTL_IMAGE=ghcr.io/acme/acmectl:0.0.0 docker-compose -f $(CONTAINER)/compose.prod.yml config -q
	$(Q)yamllint -s -c packaging/.yamllint $(CONTAINER)/*.yml
	$(Q)$(CONTAINER)/check

compose-test: image compose-images
	$(Q)BUILD_DIR=$(abspath $(BUILD)) $(CONTAINER)/compose-test $(IMAGE):$(VERSION)

LINT_SH += $(CONTAINER)/pg-entrypoint $(CONTAINER)/compose-test
