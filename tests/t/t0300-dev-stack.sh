#!/bin/sh
# The dev stack: up is idempotent and waits until both servers answer, status
# reports both, env prints usable exports, down stops exactly its own
# processes (none left running) and --purge removes the data.
. "$(dirname "$0")/../lib/test-lib.sh"

unset ACME_ENV            # development: the dev stack is the default
dir="$XDG_STATE_HOME/acmectl/dev"

alive() {	# pid: running and not a zombie (one read: it may exit meanwhile)
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}
stray() {	# live processes whose command line mentions the dev directory
	for p in /proc/[0-9]*; do
		{ tr '\0' ' ' < "$p/cmdline"; } 2>/dev/null | grep -q "$dir" && alive "${p#/proc/}" && echo "${p#/proc/}"
	done
}

t_exit 69 "status before up exits 69" acmectl dev status
t_ok "dev up starts both servers" acmectl dev up
t_like "$ERR" "dev stack started in $dir" "up says where"
t_ok "dev up again is a no-op" acmectl dev up
t_like "$ERR" "already running" "second up says it is already running"
t_ok "dev status exits 0 when both answer" acmectl dev status -o json
t_json "$OUT" "d['postgresql']['state']=='ready' and d['redis']['state']=='ready'" "both ready"
pgpid=$(printf '%s' "$OUT" | python3 -c "import json,sys; print(json.load(sys.stdin)['postgresql']['pid'])")
rpid=$(printf '%s' "$OUT" | python3 -c "import json,sys; print(json.load(sys.stdin)['redis']['pid'])")
t_ok "postgres pid $pgpid is alive" alive "$pgpid"
t_ok "redis pid $rpid is alive" alive "$rpid"
t_is "$(stat -c %a "$dir/redis")" "700" "the redis directory is private"

# ---- the dev stack's key seals webhook secrets (development behaves as production) ----
t_is "$(stat -c %a "$dir/secret.key")" 600 "dev up made a private key file"
t_like "$(cat "$dir/secret.key")" '^[A-Za-z0-9+/]{43}=$' "holding one base64 key of 32 bytes"
test_key=$ACME_SECRET_KEY_FILE
unset ACME_SECRET_KEY_FILE
t_ok "config show names it" acmectl config show -o json
t_json "$OUT" "d['settings']['secret_key_file']['value'] == '$dir/secret.key' and
	d['settings']['secret_key_file']['source'] == 'dev stack'" "secret_key_file from the dev stack"
t_ok "webhooks add on the dev stack" acmectl webhooks add https://hooks.example.com/dev -e '*'
t_unlike "$ERR" "plain text|key file" "without a warning about plain text or the key file"
t_like "$(acmectl dev psql -- -At -c "SELECT secret_key_id || ' ' || left(secret, 3) FROM webhooks")" \
	'^[0-9a-f]{8} v1:$' "the stored secret is sealed under the dev key"
key=$(cat "$dir/secret.key")
t_ok "dev up again keeps the key" acmectl dev up
t_is "$(cat "$dir/secret.key")" "$key" "the same key"
rm "$dir/secret.key"
t_ok "a key removed by hand is made again when a command needs it" \
	acmectl webhooks add https://hooks.example.com/dev2 -e '*'
t_like "$ERR" "the dev stack had no key file: made $dir/secret.key" "with a warning saying so"
t_is "$(stat -c %a "$dir/secret.key")" 600 "a new private key file"
t_like "$(acmectl dev psql -- -At -c "SELECT secret_key_id || ' ' || left(secret, 3) FROM webhooks
	WHERE url LIKE '%/dev2'")" '^[0-9a-f]{8} v1:$' "the new endpoint's secret is sealed under it"
t_unlike "$(acmectl dev psql -- -At -c "SELECT secret_key_id FROM webhooks WHERE url LIKE '%/dev2'")" \
	"^$(acmectl dev psql -- -At -c "SELECT secret_key_id FROM webhooks WHERE url LIKE '%/dev'")\$" \
	"a key other than the removed one"
acmectl dev psql -- -q -c 'DELETE FROM webhooks' >/dev/null
export ACME_SECRET_KEY_FILE="$test_key"

t_ok "dev env prints exports" acmectl dev env
t_like "$OUT" "^export DATABASE_URL='postgresql:///acme\?host=" "DATABASE_URL export"
t_like "$OUT" "export REDIS_URL='unix://$dir/redis/redis.sock'" "REDIS_URL export"
t_like "$OUT" "export ACME_SECRET_KEY_FILE='$dir/secret.key'" "and the key file's"
eval "$OUT"
t_is "$(psql -X -At "$DATABASE_URL" -c 'select 1')" "1" "the exported DATABASE_URL works"
t_is "$(redis-cli -s "$dir/redis/redis.sock" ping)" "PONG" "the redis socket answers"
t_ok "config show with the exports" acmectl config show -o json
t_json "$OUT" "d['settings']['secret_key_file']['value'] == '$dir/secret.key'" \
	"the exports keep the dev stack's key (secrets sealed under it still open)"
unset DATABASE_URL REDIS_URL
export ACME_SECRET_KEY_FILE="$test_key"

t_ok "config check --connect reaches the dev stack by default" acmectl config check --connect
t_ok "dev psql passes arguments to psql" acmectl dev psql -- -At -c 'select 40+2'
t_is "$OUT" "42" "psql ran the query"
t_ok "dev redis-cli passes arguments" acmectl dev redis-cli ping
t_is "$OUT" "PONG" "redis-cli ran"

t_ok "dev down stops both" acmectl dev down
t_exit 1 "postgres is gone" alive "$pgpid"
t_exit 1 "redis is gone" alive "$rpid"
t_is "$(stray)" "" "no process of the dev stack remains"
t_exit 69 "status after down exits 69" acmectl dev status
t_ok "dev down again is a no-op" acmectl dev down
t_exit 69 "config check --connect fails with 69 when the stack is down" acmectl config check --connect
t_like "$ERR" "postgresql at unix socket $dir/pg/run/.s.PGSQL.5432: .*acmectl dev up" \
	"the error names the socket and what to do"

# the embedded default: a command that needs the database starts the stack
t_ok "a database command starts the stopped dev stack by itself" acmectl migrate status --exit-code
t_like "$ERR" "starting the dev stack in $dir" "one line on stderr says so"
t_is "$(printf '%s\n' "$ERR" | grep -c 'starting the dev stack')" "1" "exactly one such line"
t_ok "the auto-started stack answers" acmectl dev status
t_ok "a second command finds it running" acmectl migrate status --exit-code
t_unlike "$ERR" "starting the dev stack" "and says nothing about starting"
t_ok "dev down" acmectl dev down

t_ok "dev up after down restarts with the data kept" acmectl dev up
t_like "$ERR" "dev database at migration [0-9]{4}" "dev up reports the schema version"
t_ok "dev down --purge" acmectl dev down --purge --yes
t_exit 1 "the data directory is gone" test -e "$dir"
t_is "$(stray)" "" "no process remains after purge"

t_done
