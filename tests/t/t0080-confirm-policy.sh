#!/bin/sh
# One confirmation policy (core/confirm.h) for every destructive verb: on a
# terminal they ask (y/N; bulk ones the count typed back; production the
# environment name), without one they need --yes, and --dry-run says what
# would go and changes nothing. Short options mean one thing everywhere.
# Regression (issue 11, point 9): dev down --purge deleted every dev database
# without asking and rejected --yes; jobs, webhooks and migrate refused in
# production on a terminal while products asked for the environment name;
# -d and -n meant different things in different commands.
. "$(dirname "$0")/../lib/test-lib.sh"
need_servers
command -v script >/dev/null 2>&1 || t_skip_all "script(1) is not installed"

# on_tty WANT DESC INPUT CMD...: run CMD on a pty with INPUT typed
t_tty() {
	_want=$1; _d=$2; _in=$3; shift 3
	_cmd=$(printf "'%s' " "$@")
	printf "$_in" | script -qec "$_cmd" /dev/null >"$TEST_TMP/tty" 2>&1
	_t_rc=$?
	OUT=$(tr -d '\r' <"$TEST_TMP/tty")
	[ "$_t_rc" -eq "$_want" ] || t_diag "exit $_t_rc (wanted $_want)" "$OUT"
	t_is "$_t_rc" "$_want" "$_d"
}
jobs_in() { tpsql -c "SELECT count(*) FROM jobs WHERE state = '$1'"; }

# ---- dev down --purge ----------------------------------------------------------------
export ACME_DEV_DIR="$TEST_TMP/devstack"
mkdir -p "$ACME_DEV_DIR/pg"
: >"$ACME_DEV_DIR/pg/keep"
t_exit 4 "dev down --purge without a terminal and --yes is refused" \
	acmectl dev down --purge </dev/null
t_like "$ERR" "refusing to stop the dev stack and delete its data in .* without --yes" "and says so"
t_ok "the data is still there" test -e "$ACME_DEV_DIR/pg/keep"
t_ok "dev down --purge --dry-run" acmectl dev down --purge --dry-run </dev/null
t_like "$OUT" "^would stop the dev stack and delete its data in $ACME_DEV_DIR" "says what would go"
t_ok "still there after the dry run" test -e "$ACME_DEV_DIR/pg/keep"
t_tty 4 "on a terminal, n keeps it" 'n\n' "$ACMECTL" dev down --purge
t_like "$OUT" "Stop the dev stack and delete its data .*\\[y/N\\]" "it asked"
t_ok "still there after n" test -e "$ACME_DEV_DIR/pg/keep"
t_ok "dev down --purge --yes is accepted" acmectl dev down --purge --yes </dev/null
t_exit 1 "and removes the data" test -e "$ACME_DEV_DIR/pg/keep"
unset ACME_DEV_DIR

# ---- jobs purge, cancel, retry --------------------------------------------------------
for i in 1 2 3; do acmectl jobs enqueue noop --id w$i >/dev/null; done
t_ok "jobs purge --queue --dry-run" acmectl jobs purge --queue default --dry-run </dev/null
t_like "$OUT" "^would cancel every waiting job of queue default \\(3 jobs\\)" "counts what would go"
t_is "$(jobs_in queued)" 3 "nothing purged"
t_tty 4 "on a terminal, a wrong count purges nothing" '2\n' "$ACMECTL" jobs purge --queue default
t_like "$OUT" "Type the number of jobs \\(3\\) to confirm:" "it asks for the count"
t_is "$(jobs_in queued)" 3 "nothing purged"
t_ok "jobs cancel --dry-run" acmectl jobs cancel w1 --dry-run
t_like "$OUT" "^would cancel job w1 \\(noop, queued\\)" "names the job and its state"
t_is "$(jobs_in queued)" 3 "nothing cancelled"
t_exit 4 "production: jobs cancel without a terminal needs --yes" \
	env ACME_ENV=production "$ACMECTL" jobs cancel w1 </dev/null
t_like "$ERR" "refusing to cancel job w1 in production without --yes" "says why"
t_tty 0 "production on a terminal: the environment name confirms" 'production\n' \
	env ACME_ENV=production "$ACMECTL" jobs cancel w1
t_like "$OUT" "Type the environment name \\(production\\) to confirm:" "it asked for it"
t_is "$(jobs_in cancelled)" 1 "cancelled"
t_ok "jobs retry --dry-run" acmectl jobs retry w1 -n
t_like "$OUT" "^would retry job w1 \\(noop, cancelled\\)" "says what it would retry"
t_is "$(jobs_in cancelled)" 1 "still cancelled"
t_tty 0 "on a terminal, typing the count purges" '2\n' "$ACMECTL" jobs purge --queue default
t_is "$(jobs_in queued)" 0 "purged"

# ---- webhooks --------------------------------------------------------------------------
acmectl webhooks add https://hooks.example.com/a -e '*' >/dev/null 2>&1
t_ok "webhooks delete --dry-run" acmectl webhooks delete 1 --dry-run </dev/null
t_like "$OUT" "^would delete webhook 1 " "says what would go"
t_is "$(tpsql -c 'SELECT count(*) FROM webhooks')" 1 "nothing deleted"
t_tty 4 "webhooks delete on a terminal: n" 'n\n' "$ACMECTL" webhooks delete 1
t_like "$OUT" "Delete webhook 1 .*\\[y/N\\]" "it asked"
t_ok "webhooks rotate-secret --dry-run" acmectl webhooks rotate-secret 1 --dry-run
t_like "$OUT" "^would give webhook 1 a new secret" "says what would change"
t_exit 4 "production: rotate-secret without a terminal needs --yes" \
	acmectl --env production webhooks rotate-secret 1 </dev/null
t_exit 2 "webhooks add -d is gone (-d is --delimiter)" \
	acmectl webhooks add https://hooks.example.com/b -e '*' -d note
t_exit 2 "webhooks listen -n is gone (-n is --dry-run)" acmectl webhooks listen -n 1
t_tty 0 "webhooks delete on a terminal: y" 'y\n' "$ACMECTL" webhooks delete 1
t_is "$(tpsql -c 'SELECT count(*) FROM webhooks')" 0 "deleted"

# ---- products, migrate ----------------------------------------------------------------------
tpsql -c "INSERT INTO products (sku, name) SELECT 'P' || g, 'p' FROM generate_series(1, 4) g" >/dev/null
t_ok "products delete --all --dry-run" acmectl products delete --all --dry-run </dev/null
t_like "$OUT" "^would delete all 4 products" "says how many would go"
t_is "$(tpsql -c 'SELECT count(*) FROM products')" 4 "nothing deleted"
t_ok "products delete SKU -n" acmectl products delete P1 -n
t_is "$(tpsql -c 'SELECT count(*) FROM products')" 4 "nothing deleted"
t_ok "migrate baseline --dry-run" acmectl migrate baseline 1 --dry-run
t_like "$ERR" "nothing to do" "everything is applied already"
tpsql -c "DELETE FROM acmectl_migrations" >/dev/null
t_ok "migrate baseline -n lists what it would record" acmectl migrate baseline 1 -n
t_like "$OUT" "^would record 0001 as applied without running it" "says so"
t_is "$(tpsql -c 'SELECT count(*) FROM acmectl_migrations')" 0 "records nothing"
t_exit 4 "migrate baseline without a terminal needs --yes" acmectl migrate baseline 1 </dev/null
t_tty 0 "production: baseline on a terminal asks for the name" 'production\n' \
	"$ACMECTL" --env production migrate baseline 1
t_is "$(tpsql -c 'SELECT count(*) FROM acmectl_migrations')" 1 "recorded"

# ---- short options ---------------------------------------------------------------------------
t_like "$(acmectl import --help)" "-d, --delimiter" "-d is --delimiter"
t_like "$(acmectl migrate down --help)" "-n, --dry-run" "-n is --dry-run"
t_like "$(acmectl webhooks add --help)" "^      --description" "--description has no short form"

t_done
