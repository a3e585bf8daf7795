#!/bin/sh
# The CI/CD recipe (packaging/ci; issue 14, point 6), run for real against
# the test servers: `pipeline.sh preview N` makes the pull request's
# database pr_N from a migrated template (CREATE DATABASE ... TEMPLATE),
# then deploys into it (migrate, health --ready --wait, the DEPLOY_START
# command starting a real worker, smoke-test --junit) and passes; a failed
# step stops the pipeline with that step's exit code before anything after
# it runs; `pipeline.sh preview-drop N` drops the database WITH (FORCE) and
# unlinks every acme:pr-N: key and nothing else. github-actions.yml is
# linted and its structure checked: the jobs, their order, and the same
# pipeline.sh steps.
. "$(dirname "$0")/../lib/test-lib.sh"
command -v python3 >/dev/null 2>&1 || t_skip_all "python3 is not installed"
python3 -c 'import yaml' 2>/dev/null || t_skip_all "python3-yaml is not installed (packaging/install-deps)"
need_servers
. "$TEST_TOP/tests/lib/worker-lib.sh"

CI=$TEST_TOP/packaging/ci
PR=$$
export ACMECTL ADMIN_DATABASE_URL="postgresql:///postgres?host=$TEST_PG_HOST&user=acme"
export ACME_TEMPLATE_DB="tpl_t8050_$$"
unset ACME_REDIS_PREFIX
apsql() { "$TEST_PG_BIN/psql" -X -q -At -h "$TEST_PG_HOST" -U acme -d postgres "$@"; }
db_exists() { [ "$(apsql -c "SELECT count(*) FROM pg_database WHERE datname = '$1'")" = 1 ]; }
keys() { tredis --scan --pattern "$1" | wc -l | tr -d ' '; }
cleanup_dbs() {
	apsql -c "DROP DATABASE IF EXISTS \"pr_$PR\" WITH (FORCE)" >/dev/null 2>&1
	apsql -c "DROP DATABASE IF EXISTS \"$ACME_TEMPLATE_DB\" WITH (FORCE)" >/dev/null 2>&1
}
# the preview's worker is the pipeline's grandchild, not ours: killed at exit
# only while its pid still runs an acmectl worker (a pid is reused once freed)
kill_preview_worker() {
	[ -s "$TEST_TMP/w.pid" ] || return 0
	_wp=$(cat "$TEST_TMP/w.pid")
	tr '\0' ' ' 2>/dev/null <"/proc/$_wp/cmdline" | grep -q "acmectl worker --queues default,import,webhooks" &&
		kill -KILL "$_wp" 2>/dev/null
	return 0
}
trap 'kill_preview_worker; _w_cleanup; cleanup_dbs; _t_cleanup' EXIT

# ---- usage ---------------------------------------------------------------------------------
t_exit 64 "pipeline.sh: an unknown step is a usage error" "$CI/pipeline.sh" bogus
t_exit 64 "pipeline.sh deploy without DEPLOY_START" env -u DEPLOY_START "$CI/pipeline.sh" deploy
t_like "$ERR" "set DEPLOY_START" "... says what to set"
t_exit 64 "preview-env: the PR number must be a number" "$CI/preview-env" create 12x
t_like "$ERR" "positive integer, not '12x'" "... and names it"
t_exit 64 "preview-env without ADMIN_DATABASE_URL" env -u ADMIN_DATABASE_URL "$CI/preview-env" create 1
t_exit 64 "preview-env: a template name that is not a plain name" \
	env ACME_TEMPLATE_DB='x"; DROP' "$CI/preview-env" template

# ---- a pull request's preview: template, pr_N, deploy ---------------------------------------
MARK=$TEST_TMP/started
export DEPLOY_START="touch '$MARK'; '$ACMECTL' worker --queues default,import,webhooks >'$TEST_TMP/w.log' 2>&1 & echo \$! >'$TEST_TMP/w.pid'"
export SMOKE_JUNIT="$TEST_TMP/smoke.xml"
t_ok "pipeline.sh preview $PR: create, migrate, wait, start, smoke-test" "$CI/pipeline.sh" preview "$PR"
SMOKE_OUT=$OUT
t_like "$ERR" "preview-env: pr_$PR created from $ACME_TEMPLATE_DB" "the database was copied from the template"
t_like "$(printf '%s' "$ERR" | tr '\n' ' ')" \
	"deploy 1/4 migrate.*deploy 2/4 wait.*deploy 3/4 start.*deploy 4/4 smoke-test" \
	"the four deploy steps ran in that order"
t_ok "template database exists" db_exists "$ACME_TEMPLATE_DB"
t_ok "pr_$PR exists" db_exists "pr_$PR"
t_is "$("$TEST_PG_BIN/psql" -X -At -h "$TEST_PG_HOST" -U acme -d "pr_$PR" -c 'SELECT max(version) FROM acmectl_migrations')" \
	"$(apsql -d "$ACME_TEMPLATE_DB" -c 'SELECT max(version) FROM acmectl_migrations')" "pr_$PR is at the template's head"
t_like "$(cat "$SMOKE_JUNIT")" 'tests="7" failures="0" errors="0"' "the JUnit report says 7 tests, no failure"
t_like "$SMOKE_OUT" "ok 6 - webhook .*signature verified" "the smoke test delivered a signed webhook"
t_ok "the preview's worker heartbeats under acme:pr-$PR:" wait_for 30 "[ \$(keys 'acme:pr-$PR:*') -gt 0 ]"
t_is "$(keys "t:$TEST_NAME:$$:*")" 0 "nothing was written under the test's own prefix"

t_ok "preview again: pr_$PR exists, so it is migrated, not copied" "$CI/preview-env" create "$PR"
t_like "$ERR" "pr_$PR exists; migrating it" "... and says so"
t_like "$OUT" "^DATABASE_URL=postgresql:///pr_$PR\\?host=" "create prints the preview's DATABASE_URL"
t_like "$OUT" "ACME_REDIS_PREFIX=acme:pr-$PR:" "... and its Redis prefix"

# ---- a failed step stops the pipeline with its code -----------------------------------------
rm -f "$MARK"
t_exit 69 "deploy against a missing database: migrate's 69" \
	env DATABASE_URL="postgresql:///no_such_db_$$?host=$TEST_PG_HOST&user=acme" "$CI/pipeline.sh" deploy
t_like "$ERR" "deploy 1/4 migrate failed \\(exit 69\\)" "the failed step is named with its code"
t_unlike "$ERR" "deploy 2/4" "nothing after it ran"
t_ok "the release was not started" test ! -e "$MARK"

# ---- the pull request closes ---------------------------------------------------------------
# the worker is the pipeline's grandchild, not ours: its exit status is not ours to wait for
WPID=$(cat "$TEST_TMP/w.pid")
kill -TERM "$WPID"
t_ok "the preview's worker stops on SIGTERM" wait_for 60 "! kill -0 $WPID 2>/dev/null"
tredis set "acme:pr-${PR}0:keep" 1 >/dev/null
tredis set "acme:pr-$PR:extra" 1 >/dev/null
t_ok "pipeline.sh preview-drop $PR" "$CI/pipeline.sh" preview-drop "$PR"
t_is "$(apsql -c "SELECT count(*) FROM pg_database WHERE datname = 'pr_$PR'")" 0 "pr_$PR is gone"
t_is "$(keys "acme:pr-$PR:*")" 0 "no acme:pr-$PR: key is left"
t_is "$(tredis get "acme:pr-${PR}0:keep")" 1 "another pull request's keys are kept"
tredis del "acme:pr-${PR}0:keep" >/dev/null
t_ok "preview-drop again is harmless" "$CI/pipeline.sh" preview-drop "$PR"

# ---- the GitHub Actions example ------------------------------------------------------------
GA=$CI/github-actions.yml
t_ok "github-actions.yml: yamllint" yamllint -s -c "$TEST_TOP/packaging/.yamllint" "$GA"
t_ok "github-actions.yml: jobs, order and the pipeline.sh steps" python3 - "$GA" <<'PY'
import sys, yaml
w = yaml.safe_load(open(sys.argv[1]))
on = w.get("on", w.get(True))
assert "pull_request" in on and "closed" in on["pull_request"]["types"], "no pull_request closed trigger"
j = w["jobs"]
def runs(name):
    return " ".join(s.get("run", "") for s in j[name]["steps"])
assert "pipeline.sh build" in runs("build-test") and "pipeline.sh test" in runs("build-test")
assert j["image"]["needs"] == "build-test" and "pipeline.sh image" in runs("image")
assert j["deploy-staging"]["needs"] == "image" and "pipeline.sh deploy" in runs("deploy-staging")
assert j["preview"]["needs"] == "image" and 'pipeline.sh preview "$PR"' in runs("preview")
assert "pipeline.sh preview-drop" in runs("preview-drop")
assert "action == 'closed'" in j["preview-drop"]["if"]
for n in ("deploy-staging", "preview"):
    assert j[n]["env"].get("DEPLOY_START"), n + " has no DEPLOY_START"
PY
t_done
