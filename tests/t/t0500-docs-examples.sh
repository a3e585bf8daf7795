#!/bin/sh
# Every example command of README.md (its code blocks) and of the EXAMPLES
# sections of man/*.1, man/*.5 and man/*.8 runs, against this run's test
# servers, with a worker where one is needed and fixtures made here (a small
# products.csv, endpoints, jobs), and exits 0 (issue 11, point 6).
# What broke: the README's first webhook example, `webhooks add URL --event
# 'product.*'`, was refused, and nothing ran the documented examples.
#
# tests/lib/docs-examples.py extracts the commands. Each code block runs as
# one shell script in its own directory (so `id=$(...)` carries to the next
# line), each file of documentation in its own database and Redis prefix.
# An example that cannot run in a test is listed in SKIP below with the
# reason; a block that is not shell (YAML, a config file) in NOT_SHELL. Any
# other example that fails, new or old, fails this test, naming the file, the
# line, the example, how it was run, its exit status and its output.
#
# When an example must change, change the documentation, not this list;
# when a fixture is missing, add it to fixture() below.
. "$(dirname "$0")/../lib/test-lib.sh"
need_servers

command -v jq >/dev/null 2>&1 || t_skip_all "jq is not installed (the examples use it)"
TAB=$(printf '\t')

# ---- the lists -------------------------------------------------------------------------
# FILE <TAB> EXAMPLE (exactly as extracted) <TAB> why it does not run here
SKIP="README.md	make demo     # install what is missing, build, start a private PostgreSQL + Redis, run the main job	installs system packages, builds, and runs the demo: what make demo itself checks, too big for one test
README.md	make check    # install what is missing, build, run unit and integration tests on private servers	runs the whole test suite, this test included
README.md	make image          # localhost/acmectl:VERSION, :GIT_REV and :latest (podman)	builds a container image (make compose-test; t8030 with ACME_TEST_CONTAINERS=1)
README.md	make compose-test   # the test stack for real; exits with the smoke test's status	builds images and runs the compose test stack (t8030 with ACME_TEST_CONTAINERS=1)
README.md	apt install ./acmectl_0.1.0_amd64.deb	installs a package on this machine (t8010 installs it into a chroot)
README.md	(umask 077; printf '%s\\n' \"\$DATABASE_URL\" >/etc/acmectl/credentials/database-url)	writes the credentials of the installed package (t8010)
README.md	(umask 077; printf '%s\\n' \"\$REDIS_URL\" >/etc/acmectl/credentials/redis-url)	writes the credentials of the installed package (t8010)
README.md	systemctl start acmectl-migrate        # acmectl migrate up --lock-timeout 10m	needs systemd as PID 1 (t8020 verifies the units)
README.md	systemctl enable --now acmectl-worker@default acmectl-worker@import acmectl-worker@webhooks acmectl-scheduler	needs systemd as PID 1 (t8020 verifies the units)
man/acmectl-dev.1	eval \"\$(acmectl dev env)\"; psql \"\$DATABASE_URL\"	an interactive psql session
man/acmectl-tui.1	ACME_ENV=production acmectl tui --tab jobs	the interactive screen needs a terminal (tests/t/61xx drive it in tmux)"

# FILE <TAB> FIRST LINE OF THE BLOCK <TAB> what it is
NOT_SHELL="README.md	acmectl  test  db: connected  redis: connecting	a capture of the TUI's Products tab (tmux capture-pane)
README.md	acmectl  test  db: connected  redis: connected	a capture of a TUI tab (tmux capture-pane)
README.md	export ACMECTL_IMAGE=ghcr.io/acme/acmectl:1.2.3	a production compose deploy: needs registry images (t8030 validates compose.prod.yml)
README.md	kubectl -n acme-production create secret generic acmectl-secrets --from-file=database-url=./database-url --from-file=redis-url=./redis-url	a deploy to a Kubernetes cluster (t8040 validates the manifests)
README.md	packaging/ci/pipeline.sh                      # build, test, image, deploy	the CI recipe: t8050 runs its deploy, preview and preview-drop for real
man/acmectl-health.1	livenessProbe:	a Kubernetes probe (YAML)
man/acmectl-health.1	healthcheck:	a compose health check (YAML)
man/acmectl.conf.5	# ~/.config/acmectl/config	a config file
man/acmectl.conf.5	# /run/secrets/redis_url holds one line:	a config file for a managed Redis (t0420 runs its settings against redis-server with TLS)
man/acmectl.conf.5	REDIS_URL='rediss://acme:PASSWORD@10.0.0.5:6380?tls_server_name=redis.internal'	environment settings for a managed Redis (t0420 runs them against redis-server with TLS)"

# Examples that run until stopped: started in the background, stopped with
# SIGTERM once their stderr shows the pattern (bounded), then they must exit 0.
# EXAMPLE PREFIX <TAB> READY PATTERN (grep -E)
DAEMONS="acmectl worker 	worker .* started
acmectl webhooks listen 	listening on"

# Stand-ins in the text replaced for the run, per file:
# FILE <TAB> TEXT <TAB> REPLACEMENT (expanded by the shell when used)
# (filled in by fixture(), which knows the values)
SUBST_FILE=$TEST_TMP/subst
: >"$SUBST_FILE"
subst() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$SUBST_FILE"; }

# ---- servers, per file of documentation ---------------------------------------------------
mkdir -p "$TEST_TMP/bin"
ln -s "$ACMECTL" "$TEST_TMP/bin/acmectl"
BASE_DB_URL=$DATABASE_URL
BASE_REDIS_URL=$REDIS_URL
DBS=
DEV_STARTED=
WORKER_PIDS=
_ex_cleanup() {
	for _p in $WORKER_PIDS; do
		! _t_ours "$_p" || kill -TERM "$_p" 2>/dev/null
		wait_pid "$_p" 60 >/dev/null 2>&1
	done
	if [ -n "$DEV_STARTED" ]; then
		(unset DATABASE_URL REDIS_URL ACME_REDIS_PREFIX; ACME_ENV=development "$ACMECTL" -q dev down) \
			>/dev/null 2>&1
	fi
	for _d in $DBS; do
		"$TEST_PG_BIN/psql" -X -q -h "$TEST_PG_HOST" -U acme -d postgres \
			-c "DROP DATABASE IF EXISTS \"$_d\" WITH (FORCE)" >/dev/null 2>&1
	done
	_t_cleanup
}
trap _ex_cleanup EXIT

# fresh_db N: a database cloned from the migrated template and a Redis prefix
# for file number N; exports DATABASE_URL, REDIS_URL, ACME_REDIS_PREFIX.
fresh_db() {
	_db="${TEST_DB}_$1"
	"$TEST_PG_BIN/psql" -X -q -h "$TEST_PG_HOST" -U acme -d postgres \
		-c "CREATE DATABASE \"$_db\" TEMPLATE acme_template" >/dev/null ||
		{ echo "Bail out! cannot create database $_db"; exit 1; }
	DBS="$DBS $_db"
	export DATABASE_URL="postgresql:///$_db?host=$TEST_PG_HOST&user=acme"
	export REDIS_URL="$BASE_REDIS_URL"
	export ACME_REDIS_PREFIX="t:$TEST_NAME:$$:$1:"
	export ACME_ENV=test
	CUR_DB=$_db
}
dbsql() {
	"$TEST_PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$TEST_PG_HOST" -U acme -d "$CUR_DB" "$@"
}
start_worker() {	# queues
	"$ACMECTL" worker --queues "$1" >"$WORK/.worker.log" 2>&1 &
	WORKER_PIDS="$WORKER_PIDS $!"
}
stop_workers() {
	for _p in $WORKER_PIDS; do
		! _t_ours "$_p" || kill -TERM "$_p" 2>/dev/null
		wait_pid "$_p" 60 >/dev/null 2>&1
	done
	WORKER_PIDS=
}
dev_env() {	# the examples of the dev stack run as a developer would: development, no URLs
	DEV_ENV=1
	DEV_STARTED=1
}

# ---- fixtures ---------------------------------------------------------------------------
# fixture FILE: runs in the file's directory ($WORK), database and prefix,
# before its examples.
fixture() {
	DEV_ENV=
	case $1 in
	man/acmectl-dev.1)
		dev_env ;;
	man/acmectl.1)
		dev_env
		mkdir -p "$WORK/secrets"
		# files that hold secrets must be private (acmectl.conf(5)), as the
		# documentation's /run/secrets are
		(umask 077
		 printf '%s\n' "$BASE_DB_URL" >"$WORK/secrets/db"
		 printf '%s\n' "$BASE_REDIS_URL" >"$WORK/secrets/redis")
		subst "$1" /run/secrets/ "$WORK/secrets/" ;;
	man/acmectl-audit.1)
		# something to find: an import alice queued, a product delete
		dbsql -c "INSERT INTO audit_log (os_user, host, environment, command, target, details)
			VALUES ('alice', 'ci', 'test', 'import', '01J0', '{\"file\": \"products.csv\", \"inserted\": 3}'),
			       ('bob', 'ci', 'test', 'products delete', 'A-1', '{}')" ;;
	man/acmectl-import.1)
		printf 'sku,name,price\nA-1,Anvil,10.00\nB-2,Bolt,0.50\n' >"$WORK/products.csv"
		printf 'Item No;Title;Internal\nC-3;Crate;x\n' >"$WORK/export.csv"
		printf 'sku,name\nE-1,Caf\351 cr\350me\n' >"$WORK/catalog.csv"   # Windows-1252, as Excel saves
		subst "$1" https://erp.example/export.csv "file://$WORK/export.csv"
		start_worker import ;;
	man/acmectl-jobs.1)
		# an import with a rejected row, and a dead job, under the ids the page uses
		dbsql -c "INSERT INTO jobs (id, type, queue, state, created_by, finished_at, result)
			VALUES ('01J9Z3KX5V8Q2W7E4R6T1Y0P3M', 'import', 'import', 'succeeded', 'docs@example', now(),
				'{\"header\": \"sku,name,price\", \"delimiter\": \",\"}');
			INSERT INTO import_errors (job_id, line, column_name, message, raw)
			VALUES ('01J9Z3KX5V8Q2W7E4R6T1Y0P3M', 3, 'price', 'price \"abc\" is not a number',
				convert_to('B-2,Bolt,abc', 'UTF8'))"
		"$ACMECTL" -q jobs enqueue noop --id 01JD3V6X2M8Q4RZP0K7YB5T9NC --max-attempts 1 \
			--payload '{"fail": true}' >/dev/null
		timeout -k 10 120 "$ACMECTL" worker --burst --queues default >"$WORK/.burst.log" 2>&1
		# the person fixing the file, without an editor; then the import needs a worker
		subst "$1" "vi fix.csv" "sed -i 's/,abc,/,1.50,/' fix.csv"
		start_worker import ;;
	man/acmectl-products.1)
		dbsql -c "INSERT INTO products (sku, name, active, price)
			SELECT 'BR-' || g, 'Wall bracket ' || g, true, 1.00 FROM generate_series(1, 120) g;
			INSERT INTO products (sku, name, price) VALUES ('ABC-000123', 'Hinge', 9.99),
				('OLD-1', 'Old one', 1), ('OLD-2', 'Old two', 2)"
		_cursor=$("$ACMECTL" products list --name bracket --active --sort created_at:desc -o json |
			jq -r '.page.next_cursor // empty')
		[ -n "$_cursor" ] || t_diag "products fixture: no next_cursor for the paging example"
		subst "$1" WyJjcmVhdGVkX2F0Iix0cnVl... "$_cursor" ;;
	man/acmectl-webhooks.1)
		# endpoint 1 is a local receiver, with a failed delivery 57; the
		# example's own endpoint (hooks.example.com) becomes number 2
		"$ACMECTL" webhooks listen --port 0 --port-file "$WORK/.recv.port" \
			>"$WORK/.recv.log" 2>&1 &
		WORKER_PIDS="$WORKER_PIDS $!"
		_i=0
		while [ ! -s "$WORK/.recv.port" ] && [ $_i -lt 100 ]; do sleep 0.1; _i=$((_i + 1)); done
		"$ACMECTL" webhooks add "http://127.0.0.1:$(cat "$WORK/.recv.port")/hook" -e '*' \
			-o json >"$WORK/.ep.json" 2>/dev/null
		SECRET=$(jq -r .secret "$WORK/.ep.json")
		export SECRET
		dbsql -c "INSERT INTO webhook_deliveries (id, webhook_id, event_id, event_type, body, status,
				attempts, last_error)
			OVERRIDING SYSTEM VALUE VALUES (57, 1, 'evt_57', 'product.updated', '\\x7b7d', 'failed',
				7, 'HTTP 500')"
		subst "$1" "--port 8787" "--port 0"
		start_worker webhooks ;;
	README.md)
		# the deploy section ends with the smoke test, which needs a worker
		# on every queue of this host
		start_worker default,import,webhooks ;;
	man/acmectl-smoke-test.1)
		# a worker on every queue of this host (the loopback receiver's
		# condition), and a receiver standing in for hooks.example.com
		"$ACMECTL" webhooks listen --port 0 --port-file "$WORK/.recv.port" \
			>"$WORK/.recv.log" 2>&1 &
		WORKER_PIDS="$WORKER_PIDS $!"
		_i=0
		while [ ! -s "$WORK/.recv.port" ] && [ $_i -lt 100 ]; do sleep 0.1; _i=$((_i + 1)); done
		subst "$1" https://hooks.example.com/acme-smoke "http://127.0.0.1:$(cat "$WORK/.recv.port")/acme-smoke"
		start_worker default,import,webhooks ;;
	esac
}

# ---- run ----------------------------------------------------------------------------------
EX=$TEST_TMP/examples.tsv
python3 "$TEST_TOP/tests/lib/docs-examples.py" "$TEST_TOP" >"$EX" ||
	{ echo "Bail out! tests/lib/docs-examples.py failed"; exit 1; }
t_like "$(grep -c "^cmd$TAB" "$EX")" '^[1-9][0-9]+$' "examples found in README.md and man/"

listed() {	# list file text: the reason listed for (file, text), or nothing
	printf '%s\n' "$1" | F=$2 T=$3 awk -F '\t' '$1 == ENVIRON["F"] && $2 == ENVIRON["T"] { print $3; exit }'
}
daemon_ready() {	# command: the ready pattern when it is a daemon
	printf '%s\n' "$DAEMONS" | while IFS="$TAB" read -r _pre _pat; do
		case $1 in "$_pre"*) printf '%s\n' "$_pat"; break ;; esac
	done
}
apply_subst() {	# file text
	_s=$2
	while IFS="$TAB" read -r _f _from _to; do
		[ "$_f" = "$1" ] || continue
		_s=$(FROM=$_from TO=$_to S=$_s python3 -c 'import os; print(os.environ["S"].replace(os.environ["FROM"], os.environ["TO"]))')
	done <"$SUBST_FILE"
	printf '%s\n' "$_s"
}

# One block: a script whose command i leaves $R/i.rc, $R/i.out, $R/i.err.
run_block() {	# file block
	_script=$R/script.sh
	{
		echo 'cd "$1" || exit 99'
		echo "PATH=\"$TEST_TMP/bin:\$PATH\"; export PATH"
		if [ -n "$DEV_ENV" ]; then
			echo 'unset DATABASE_URL REDIS_URL ACME_REDIS_PREFIX; export ACME_ENV=development'
		fi
		cat <<'EOF'
_ready() {	# file pattern: until the file matches, at most 60 s
	_n=600
	until grep -Eq -- "$2" "$1" 2>/dev/null; do
		[ $_n -gt 0 ] || return 1
		sleep 0.1; _n=$((_n - 1))
	done
}
_stop() {	# pid: SIGTERM, then its exit status (KILL after 60 s: 124)
	kill -TERM "$1" 2>/dev/null
	_n=600
	while [ $_n -gt 0 ] && [ -r /proc/"$1"/stat ] &&
	      [ "$(sed 's/.*) //; s/ .*//' /proc/"$1"/stat 2>/dev/null)" != Z ]; do
		sleep 0.1; _n=$((_n - 1))
	done
	if [ $_n -eq 0 ]; then kill -KILL "$1" 2>/dev/null; wait "$1"; return 124; fi
	wait "$1"
}
EOF
	} >"$_script"
	_i=0
	while IFS="$TAB" read -r _kind _f _line _b _text; do
		[ "$_kind" = cmd ] && [ "$_f" = "$1" ] && [ "$_b" = "$2" ] || continue
		_i=$((_i + 1))
		printf '%s\t%s\n' "$_line" "$_text" >"$R/$_i.example"
		_why=$(listed "$SKIP" "$_f" "$_text")
		if [ -n "$_why" ]; then
			printf '%s\n' "$_why" >"$R/$_i.skip"
			continue
		fi
		_run=$(apply_subst "$_f" "$_text")
		[ "$_run" = "$_text" ] || printf '%s\n' "$_run" >"$R/$_i.ran"
		_pat=$(daemon_ready "$_text")
		if [ -n "$_pat" ]; then
			printf '%s </dev/null >"%s" 2>"%s" &\n' "$_run" "$R/$_i.out" "$R/$_i.err" >>"$_script"
			printf '_p=$!\nif _ready "%s" %s; then _stop $_p; echo $? >"%s"; else echo "not ready: no line matching %s" >>"%s"; _stop $_p; echo 124 >"%s"; fi\n' \
				"$R/$_i.err" "'$_pat'" "$R/$_i.rc" "'$_pat'" "$R/$_i.err" "$R/$_i.rc" >>"$_script"
		else
			printf '{ %s\n} </dev/null >"%s" 2>"%s"; echo $? >"%s"\n' \
				"$_run" "$R/$_i.out" "$R/$_i.err" "$R/$_i.rc" >>"$_script"
		fi
	done <"$EX"
	timeout -k 10 300 sh "$_script" "$WORK" >"$R/script.out" 2>&1
	_block_rc=$?
	_j=1
	while [ $_j -le $_i ]; do
		_line=$(cut -f1 "$R/$_j.example")
		_text=$(cut -f2- "$R/$_j.example")
		# test-lib prints names with echo, which takes \ as an escape in dash
		_name=$(printf '%s\n' "$1:$_line: $_text" | sed 's/\\/\\\\/g')
		if [ -f "$R/$_j.skip" ]; then
			t_skip "$_name: listed: $(cat "$R/$_j.skip")"
		elif [ ! -f "$R/$_j.rc" ]; then
			t_diag "file: $1, line $_line (code block $2)" "example: $_text" \
				"ran as: $(cat "$R/$_j.ran" 2>/dev/null || echo "$_text")" \
				"it did not finish: the block's script ended with status $_block_rc before it" \
				"(an earlier line ran exit, or the block timed out); script output: $(head -c 1000 "$R/script.out")"
			_t_result 1 "$_name"
		elif [ "$(cat "$R/$_j.rc")" != 0 ]; then
			t_diag "file: $1, line $_line (code block $2)" "example: $_text" \
				"ran as: $(cat "$R/$_j.ran" 2>/dev/null || echo "$_text")" \
				"in: $WORK ($([ -n "$DEV_ENV" ] && echo "development, the dev stack" ||
					echo "test servers, database $CUR_DB"))" \
				"exit: $(cat "$R/$_j.rc") (wanted 0)" \
				"stdout: $(head -c 1500 "$R/$_j.out")" "stderr: $(head -c 1500 "$R/$_j.err")"
			_t_result 1 "$_name"
		else
			_t_result 0 "$_name"
		fi
		_j=$((_j + 1))
	done
}

# blocks that are not shell must be listed
while IFS="$TAB" read -r _kind _f _line _b _text; do
	[ "$_kind" = text ] || continue
	_why=$(listed "$NOT_SHELL" "$_f" "$_text")
	if [ -n "$_why" ]; then
		t_skip "$_f:$_line: code block $_b is not shell: $_why"
	else
		t_diag "file: $_f, line $_line: code block $_b does not look like shell commands" \
			"(first line: $_text): make it a command, or list it in NOT_SHELL in $0 saying what it is"
		_t_result 1 "$_f:$_line: code block $_b is listed or is shell"
	fi
done <"$EX"

# man/acmectl.1 just before man/acmectl-dev.1: its `dev up` starts the dev
# stack that the dev page's examples then use and purge (one initdb, not two)
n=0
for f in $(cut -f2 "$EX" | awk '!seen[$0]++' |
	awk '$0 == "man/acmectl.1" { main = 1; next }
	     $0 == "man/acmectl-dev.1" { print "man/acmectl.1"; dev = 1 } { print }
	     END { if (main && !dev) print "man/acmectl.1" }'); do
	grep -q "^cmd$TAB$f$TAB" "$EX" || continue
	n=$((n + 1))
	WORK=$TEST_TMP/ex/$n
	mkdir -p "$WORK"
	fresh_db "$n"
	fixture "$f"
	for b in $(awk -F '\t' -v f="$f" '$1 == "cmd" && $2 == f { print $4 }' "$EX" | awk '!seen[$0]++'); do
		R=$TEST_TMP/res/$n.$b
		mkdir -p "$R"
		run_block "$f" "$b"
	done
	stop_workers
done

# listed examples that are gone (a note, not a failure: the list may be pruned)
printf '%s\n' "$SKIP" | while IFS="$TAB" read -r _f _text _why; do
	F=$_f T=$_text awk -F '\t' '$1 == "cmd" && $2 == ENVIRON["F"] && $5 == ENVIRON["T"] { found = 1 }
		END { exit !found }' "$EX" ||
		t_diag "note: SKIP lists an example that no longer exists: $_f: $_text"
done

t_done
