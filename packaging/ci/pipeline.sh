#!/bin/sh
# pipeline.sh — the CI/CD pipeline as a plain script, the same steps as
# github-actions.yml, for any CI system or a shell:
#   pipeline.sh [all]          build, test, image, deploy
#   pipeline.sh build | test | image | deploy
#   pipeline.sh preview N      a pull request's preview: preview-env create N
#                              (database pr_N from the migrated template,
#                              Redis prefix acme:pr-N:), then deploy into it
#   pipeline.sh preview-drop N the pull request closed: preview-env drop N
# Steps: build (make) -> test (make check) -> image (make image; tags: the
# git SHA, and X.Y.Z, X.Y, X on a vX.Y.Z tag; pushed when PUSH=1) -> deploy:
#   1. acmectl migrate up --lock-timeout 10m
#   2. acmectl health --ready --wait --timeout 2m
#   3. start the new release: the shell command in DEPLOY_START
#      (e.g. `systemctl restart acmectl-worker@default acmectl-scheduler`,
#      `kubectl apply -k packaging/k8s/overlays/production`)
#   4. acmectl smoke-test --junit $SMOKE_JUNIT (default smoke.xml)
# Environment: SKIP_BUILD, SKIP_TEST, SKIP_IMAGE (=1 skips the step in
# `all`), IMAGE (default localhost/acmectl), REGISTRY_IMAGE (the name to tag
# and push, e.g. ghcr.io/acme/acmectl), PUSH, ACMECTL (default acmectl),
# DEPLOY_START, SMOKE_JUNIT, SMOKE_ARGS (e.g. --webhook-url URL); deploy
# reads DATABASE_URL/REDIS_URL (or *_FILE) like acmectl; preview needs
# ADMIN_DATABASE_URL (see preview-env).
# Exit: the failed step's status (each acmectl exit code as documented:
# 69 not ready, 1 smoke test failed, ...), 64 usage.
# Run for real by tests/t/t8050-packaging-ci.sh (deploy, preview and
# preview-drop against the test servers); shellchecked by `make lint`.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
ACMECTL=${ACMECTL:-acmectl}
IMAGE=${IMAGE:-localhost/acmectl}
SMOKE_JUNIT=${SMOKE_JUNIT:-smoke.xml}

say() { echo "pipeline: $*" >&2; }
run() {	# run STEP-NAME command...: the step's status becomes ours on failure
	_name=$1; shift
	say "$_name: $*"
	_rc=0
	"$@" || _rc=$?
	if [ "$_rc" -ne 0 ]; then
		say "$_name failed (exit $_rc)"
		exit "$_rc"
	fi
}

build() { run build make -C "$top" -j"$(nproc)" acmectl; }
tests() { run test make -C "$top" check; }

image() {
	run image make -C "$top" image IMAGE="$IMAGE"
	sha=$(git -C "$top" rev-parse HEAD)
	ver=$(make -C "$top" -s --no-print-directory print-version 2>/dev/null || echo "")
	dest=${REGISTRY_IMAGE:-$IMAGE}
	tags="$sha"
	# a release tag vX.Y.Z also tags X.Y.Z, X.Y and X
	if semver=$(git -C "$top" describe --tags --exact-match --match 'v[0-9]*.[0-9]*.[0-9]*' 2>/dev/null); then
		semver=${semver#v}
		tags="$tags $semver ${semver%.*} ${semver%%.*}"
	fi
	for t in $tags; do
		run tag podman tag "$IMAGE:${ver:-latest}" "$dest:$t"
		[ "${PUSH:-}" != 1 ] || run push podman push "$dest:$t"
	done
	say "image: $dest tagged $tags"
}

deploy() {
	[ -n "${DEPLOY_START:-}" ] || { say "deploy: set DEPLOY_START to the command that starts the new release"; exit 64; }
	run "deploy 1/4 migrate" "$ACMECTL" migrate up --lock-timeout 10m
	run "deploy 2/4 wait" "$ACMECTL" health --ready --wait --timeout 2m
	run "deploy 3/4 start" sh -c "$DEPLOY_START"
	# shellcheck disable=SC2086 # SMOKE_ARGS is a list of options
	run "deploy 4/4 smoke-test" "$ACMECTL" smoke-test --junit "$SMOKE_JUNIT" ${SMOKE_ARGS:-}
	say "deploy: done; the smoke test's report is $SMOKE_JUNIT"
}

preview() {
	env=$(run "preview create" "$here/preview-env" create "$1") || exit $?
	# DATABASE_URL=... and ACME_REDIS_PREFIX=...: the preview's own data
	while IFS= read -r line; do
		case "$line" in
		DATABASE_URL=* | ACME_REDIS_PREFIX=*) export "${line?}" ;;
		esac
	done <<EOT
$env
EOT
	unset DATABASE_URL_FILE
	deploy
}

step=${1:-all}
[ $# -gt 0 ] && shift
case "$step" in
all)
	[ $# -eq 0 ] || { echo "usage: pipeline.sh [all|build|test|image|deploy|preview N|preview-drop N]" >&2; exit 64; }
	[ "${SKIP_BUILD:-}" = 1 ] && say "build: skipped (SKIP_BUILD=1)" || build
	[ "${SKIP_TEST:-}" = 1 ] && say "test: skipped (SKIP_TEST=1)" || tests
	[ "${SKIP_IMAGE:-}" = 1 ] && say "image: skipped (SKIP_IMAGE=1)" || image
	deploy
	;;
build) build ;;
test) tests ;;
image) image ;;
deploy) deploy ;;
preview) [ $# -eq 1 ] || { echo "usage: pipeline.sh preview N" >&2; exit 64; }; preview "$1" ;;
preview-drop) [ $# -eq 1 ] || { echo "usage: pipeline.sh preview-drop N" >&2; exit 64; }; run "preview drop" "$here/preview-env" drop "$1" ;;
*) echo "usage: pipeline.sh [all|build|test|image|deploy|preview N|preview-drop N]" >&2; exit 64 ;;
esac
