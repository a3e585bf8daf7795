#!/bin/sh
# The container image and compose stacks (packaging/container; issue 14,
# point 4), checked statically so it runs on any machine: every compose
# stack resolves with `docker-compose config`, passes yamllint, and keeps
# its promises (packaging/container/check: healthchecks, Redis AOF and
# noeviction, migrate before the workers, one scheduler, the drain-sized
# stop grace, tmpfs and the smoke test last in the test stack, tags,
# secrets and no published ports in production; the Containerfile's two
# stages, runtime libraries against the binary's NEEDED list, non-root
# USER, exec-form ENTRYPOINT, HEALTHCHECK, labels). Each promise broken in a
# copy is caught and named. With ACME_TEST_CONTAINERS=1 it also builds the
# image and runs the test stack for real (`make compose-test`), which is
# too slow and needs the network for apt on a first build, so make check
# leaves it to that target (the README says what ran).
. "$(dirname "$0")/../lib/test-lib.sh"
for t in docker-compose yamllint objdump python3; do
	command -v "$t" >/dev/null 2>&1 || t_skip_all "$t is not installed (packaging/install-deps)"
done
python3 -c 'import yaml' 2>/dev/null || t_skip_all "python3-yaml is not installed (packaging/install-deps)"
SRC=$TEST_TOP/packaging/container
CHECK=$SRC/check

# ---- the files as they are ---------------------------------------------------------------
t_ok "compose.yml resolves" docker-compose -f "$SRC/compose.yml" config -q
t_ok "compose.yml + compose.test.yml resolve" \
	docker-compose -f "$SRC/compose.yml" -f "$SRC/compose.test.yml" config -q
t_ok "compose.prod.yml resolves with ACMECTL_IMAGE" \
	env ACMECTL_IMAGE=ghcr.io/acme/acmectl:1.2.3 docker-compose -f "$SRC/compose.prod.yml" config -q
t_exit 1 "compose.prod.yml refuses to resolve without ACMECTL_IMAGE" \
	env -u ACMECTL_IMAGE docker-compose -f "$SRC/compose.prod.yml" config -q
t_like "$(cat "$TEST_TMP/err")" "set ACMECTL_IMAGE to the release image" "... and says what to set"
t_ok "yamllint is clean" yamllint -s -c "$TEST_TOP/packaging/.yamllint" "$SRC"/*.yml
# The image must carry the release binary's libraries; a sanitizer build
# (make asan-check) also needs libasan and libubsan, which it rightly lacks.
if objdump -p "$ACMECTL" | grep -q 'NEEDED *libasan'; then
	t_skip "packaging/container/check: $ACMECTL is a sanitizer build"
	t_skip "check has nothing to say: a sanitizer build"
else
	t_ok "packaging/container/check is clean" "$CHECK" --binary "$ACMECTL"
	t_is "$ERR" "" "check has nothing to say"
fi
t_exit 64 "check: usage error" "$CHECK" --bogus

cfg() { docker-compose "$@" config 2>/dev/null; }
prod=$(ACMECTL_IMAGE=ghcr.io/acme/acmectl:1.2.3 cfg -f "$SRC/compose.prod.yml")
t_unlike "$prod" "^    ports:" "prod: no service publishes a port"
t_like "$prod" "DATABASE_URL_FILE: /run/secrets/database-url" "prod: the database URL is a secret file"
t_unlike "$prod" "DATABASE_URL: " "prod: no DATABASE_URL in the environment"
test=$(cfg -f "$SRC/compose.yml" -f "$SRC/compose.test.yml")
t_like "$test" "smoke-test:" "test: the smoke test is a service"
t_like "$test" "- /run/pgtmp:mode=1777" "test: PostgreSQL data on tmpfs"
t_like "$(sed -n '/^FROM.*slim/,$p' "$SRC/Containerfile" | tr '\n' ' ')" 'HEALTHCHECK .*CMD \["acmectl", "health", "--live"\]' \
	"Containerfile: the runtime HEALTHCHECK is health --live"
for f in Containerfile postgres.Containerfile redis.Containerfile compose.yml compose.test.yml \
	compose.prod.yml check compose-test pg-entrypoint; do
	t_like "$(sed -n 1,3p "$SRC/$f")" "^(#!.*)?$|^# $f — " "$f starts with a header comment naming it"
done

# ---- each promise broken in a copy is caught and named -------------------------------------
broken() {	# description file sed-script pattern
	rm -rf "$TEST_TMP/c" && cp -r "$SRC" "$TEST_TMP/c"
	sed -i "$3" "$TEST_TMP/c/$2"
	if cmp -s "$SRC/$2" "$TEST_TMP/c/$2"; then
		_t_result 1 "$1 (the sed script changed nothing)"
		return
	fi
	case $2 in
	Containerfile) _part=containerfile ;;
	compose.yml) _part=dev ;;
	compose.test.yml) _part="test" ;;
	*) _part=prod ;;
	esac
	# only the part the broken file belongs to: each docker-compose config costs a second
	t_exit 1 "$1: check fails" "$TEST_TMP/c/check" --binary "$ACMECTL" --dir "$TEST_TMP/c" --only "$_part"
	t_like "$ERR" "$4" "$1: check names it"
}
broken "a runtime library missing" Containerfile 's/ libpq5 / /' "does not install libpq5 \\(libpq.so.5\\)"
broken "root user" Containerfile 's/^USER 10001:10001/USER root/' "runtime USER is root"
broken "shell-form entrypoint" Containerfile 's/^ENTRYPOINT .*/ENTRYPOINT acmectl/' "ENTRYPOINT is shell form"
broken "no healthcheck in the image" Containerfile '/^HEALTHCHECK/,/^  CMD/d' "runtime stage has no HEALTHCHECK"
broken "a label without its build arg" Containerfile '/^FROM debian:\${DEBIAN}-slim/,$ {/^ARG GIT_REV=unknown/d}' \
	"ARG GIT_REV is not declared in the runtime stage"
broken "a single stage" Containerfile '/^FROM debian:\${DEBIAN} AS build/,/^FROM /{/^FROM debian:\${DEBIAN}-slim/!d}' \
	"1 stage\\(s\\)"
broken "redis may evict" compose.yml 's/"noeviction"/"allkeys-lru"/' "redis runs without --maxmemory-policy noeviction"
broken "workers do not wait for migrate" compose.yml '/^  worker:/,/^  scheduler:/s/service_completed_successfully/service_started/' \
	"worker does not wait for migrate"
broken "a short stop grace" compose.yml 's/stop_grace_period: 45s/stop_grace_period: 10s/' \
	"stop_grace_period 10s does not cover the 30s drain"
broken "too little memory for the children" compose.yml 's/"--concurrency", "1"/"--concurrency", "2"/' \
	"worker memory limit 1792m is below its 6 children x --max-memory-per-child 512 MB"
broken "two schedulers" compose.yml '/^  scheduler:/,$s/replicas: 1/replicas: 2/' "scheduler has 2 replicas"
broken "a service without healthcheck" compose.yml '/^  redis:/,/^  migrate:/{/healthcheck:/,/retries:/d}' \
	"service redis has no healthcheck"
broken "prod publishes PostgreSQL" compose.prod.yml '/^  postgres:/a\    ports: ["5432:5432"]' \
	"service postgres publishes ports"
broken "prod URL in the environment" compose.prod.yml 's|DATABASE_URL_FILE: /run/secrets/database-url|DATABASE_URL: postgres://acme:pw@postgres/acme|' \
	"takes DATABASE_URL from the environment"
broken "prod image latest" compose.prod.yml 's/postgres:15}/postgres:latest}/' "image postgres:latest is not pinned"
broken "prod database on a routed network" compose.prod.yml 's/internal: true/internal: false/' \
	"is on network backend, which is not internal"
broken "test data on disk" compose.test.yml 's|PGDATA: /run/pgtmp/pgdata|PGDATA: /var/lib/postgresql/data/pgdata|' "postgres data .* is not on tmpfs"
broken "no smoke test" compose.test.yml '/^  smoke-test:/,$d' "no smoke-test service"

# ---- for real, where asked -------------------------------------------------------------------
if [ "${ACME_TEST_CONTAINERS:-}" = 1 ] && command -v podman >/dev/null 2>&1; then
	t_ok "make compose-test: image built, test stack up, smoke test passed" \
		make -C "$TEST_TOP" --no-print-directory compose-test
	t_like "$OUT" "ok 6 - webhook .*answered 2xx" "the smoke test delivered its webhook through the stack"
else
	t_skip "the image build and the compose run: set ACME_TEST_CONTAINERS=1 (make compose-test)"
fi
t_done
