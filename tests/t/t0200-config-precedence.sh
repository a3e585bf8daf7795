#!/bin/sh
# Configuration: precedence (flags > environment > file > defaults), [env.NAME]
# sections, *_FILE variants, redaction of every secret, and bad config files
# named by file and line with exit 78.
. "$(dirname "$0")/../lib/test-lib.sh"

cfgdir="$XDG_CONFIG_HOME/acmectl"
mkdir -p "$cfgdir"
jget() { python3 -c "import json,sys; d=json.load(sys.stdin); print(d['settings']['$1']['$2'])"; }

# defaults (ACME_ENV is set to test by the harness; clear it here)
unset ACME_ENV
t_ok "config show with nothing configured" acmectl config show -o json
t_json "$OUT" "d['environment']=='development' and d['settings']['database_url']['source']=='dev stack'" \
	"development is the default and uses the dev stack"
t_json "$OUT" "d['settings']['redis_prefix']['value']=='acme:development:'" "prefix defaults to acme:<env>:"

# file < environment < flag
cat > "$cfgdir/config" <<'EOT'
; top level applies to every environment
env = test
log_level = warning
redis_prefix = file:
database_url = postgresql://app:filesecret@db.example/acme
redis_url = redis://:redisfilesecret@cache.example:6379/1

[env.production]
redis_prefix = prod-file:
database_url = postgresql://app:prodsecret@prod.example/acme
EOT
# it holds passwords: it must be private (checked below)
chmod 600 "$cfgdir/config"
t_ok "config file is read" acmectl config show -o json
t_json "$OUT" "d['environment']=='test' and d['settings']['env']['source']=='file'" "env from the file"
t_json "$OUT" "d['settings']['log_level']['value']=='warning' and d['settings']['log_level']['origin'].endswith('config:3')" \
	"file values name file and line"
t_json "$OUT" "d['settings']['redis_prefix']['value']=='file:'" "top-level key applies"

ACME_ENV=production t_ok "ACME_ENV overrides the file's env" acmectl config show -o json
t_json "$OUT" "d['environment']=='production' and d['settings']['redis_prefix']['value']=='prod-file:'" \
	"[env.production] section wins over the top level"
ACME_ENV=production t_ok "flag --env overrides ACME_ENV" acmectl --env test config show -o json
t_json "$OUT" "d['environment']=='test' and d['settings']['env']['source']=='flag'" "--env wins"

ACME_REDIS_PREFIX=envp: t_ok "environment overrides file" acmectl config show -o json
t_json "$OUT" "d['settings']['redis_prefix']['value']=='envp:' and d['settings']['redis_prefix']['source']=='env'" \
	"ACME_REDIS_PREFIX beats the file"
t_ok "-v overrides the log level" acmectl -v config show -o json
t_json "$OUT" "d['settings']['log_level']['value']=='debug' and d['settings']['log_level']['source']=='flag'" \
	"-v sets log_level debug as a flag"

# redaction: no secret anywhere in any output format
for fmt in json table tsv csv ndjson; do
	t_ok "config show -o $fmt" acmectl config show -o "$fmt"
	t_unlike "$OUT$ERR" 'filesecret|redisfilesecret' "-o $fmt shows no password"
done
t_like "$OUT" 'app:\*\*\*@db.example' "the redacted URL keeps user and host"

# *_FILE variants
printf 'postgresql://app:fromfile@h/acme\n' > "$TEST_TMP/dburl"
chmod 600 "$TEST_TMP/dburl"
DATABASE_URL_FILE="$TEST_TMP/dburl" t_ok "DATABASE_URL_FILE is read" acmectl config show -o json
t_json "$OUT" "d['settings']['database_url']['value']=='postgresql://app:***@h/acme' and 'DATABASE_URL_FILE' in d['settings']['database_url']['origin']" \
	"DATABASE_URL_FILE value, redacted, with its origin"
t_unlike "$OUT" 'fromfile' "the file's password is not shown"
DATABASE_URL_FILE="$TEST_TMP/missing" t_exit 78 "an unreadable *_FILE exits 78" acmectl config show
t_like "$ERR" "DATABASE_URL_FILE: cannot read $TEST_TMP/missing" "the message names the variable and file"
DATABASE_URL=x DATABASE_URL_FILE="$TEST_TMP/dburl" t_exit 78 "both DATABASE_URL and _FILE is an error" acmectl config show
printf 'redis://:rf@h:1\n' > "$TEST_TMP/rurl"
chmod 600 "$TEST_TMP/rurl"
REDIS_URL_FILE="$TEST_TMP/rurl" t_ok "REDIS_URL_FILE is read" acmectl config show -o json
t_json "$OUT" "d['settings']['redis_url']['value']=='redis://:***@h:1'" "REDIS_URL_FILE value redacted"
printf 'database_url_file = %s\n' "$TEST_TMP/dburl" > "$cfgdir/config"
t_ok "database_url_file key in the file" acmectl --env development config show -o json
t_json "$OUT" "d['settings']['database_url']['value']=='postgresql://app:***@h/acme'" "*_file key read"

# a libpq keyword string is redacted too
DATABASE_URL="host=db user=app password=kwsecret dbname=acme" t_ok "conninfo string" acmectl config show
t_unlike "$OUT" 'kwsecret' "password= keyword redacted"

# the password never reaches an error message either
DATABASE_URL="postgresql://app:errsecret@127.0.0.1:1/acme" REDIS_URL="redis://127.0.0.1:1" \
	t_exit 69 "config check --connect fails on a refused connection" acmectl config check --connect
t_unlike "$ERR" 'errsecret' "the connection error carries no password"

# --config FILE and bad files
t_exit 78 "a missing --config file exits 78" acmectl --config "$TEST_TMP/nope" config show
t_like "$ERR" "$TEST_TMP/nope: cannot open" "names the missing file"
printf 'env = test\nthis is not ini\n' > "$TEST_TMP/bad1"
t_exit 78 "a syntax error exits 78" acmectl --config "$TEST_TMP/bad1" config show
t_like "$ERR" "$TEST_TMP/bad1:2: syntax error" "syntax error names file and line"
printf '\n\nbogus_key = 1\n' > "$TEST_TMP/bad2"
t_exit 78 "an unknown key exits 78" acmectl --config "$TEST_TMP/bad2" config check
t_like "$ERR" "bad2:3: unknown key \"bogus_key\"" "unknown key names file and line"
printf '[nonsense]\nx=1\n' > "$TEST_TMP/bad3"
t_exit 78 "an unknown section exits 78" acmectl --config "$TEST_TMP/bad3" config show
t_like "$ERR" "bad3:2: unknown section \[nonsense\]" "unknown section named"
printf '[env.staging]\nlog_level=debug\n' > "$TEST_TMP/bad4"
t_exit 78 "an unknown environment section exits 78" acmectl --config "$TEST_TMP/bad4" config show
ACME_CONFIG="$TEST_TMP/bad2" t_exit 78 "ACME_CONFIG names the file" acmectl config show

# Regression: indented keys under a section were read by inih as a
# continuation of the previous value ("log_level = debug log_format = json").
printf '[env.development]\n   log_level = debug\n\tlog_format = json\n' > "$TEST_TMP/indented"
t_ok "indented keys are read" acmectl --env development --config "$TEST_TMP/indented" config show -o json
t_json "$OUT" "d['settings']['log_level']['value']=='debug' and d['settings']['log_format']['value']=='json'" \
	"each indented key keeps its own value"
python3 -c "print('log_level = info'); print('database_url = ' + 'x' * 300)" > "$TEST_TMP/long"
t_exit 78 "an over-long line exits 78" acmectl --config "$TEST_TMP/long" config show
t_like "$ERR" "long:2: the line is too long" "names the file and line"
# Regression: leading blanks were stripped before the length check, so an
# indented over-long line passed it and its tail was read as the next line.
python3 -c "print('log_level = info'); print('    database_url = ' + 'x' * 300)" > "$TEST_TMP/long2"
t_exit 78 "an indented over-long line exits 78" acmectl --config "$TEST_TMP/long2" config show
t_like "$ERR" "long2:2: the line is too long" "names the file and line"
# the tail of a long indented comment would have been a setting of its own
python3 -c "print('    # ' + 'x' * 193 + 'log_level = debug')" > "$TEST_TMP/long3"
t_exit 78 "an indented over-long comment exits 78, its tail is not a setting" \
	acmectl --config "$TEST_TMP/long3" config show -o json
t_like "$ERR" "long3:1: the line is too long" "names the file and line"
python3 -c "print('[env.test]'); print('\t' + 'log_level = debug ' + ' ' * 200)" > "$TEST_TMP/long4"
t_exit 78 "a line over the limit only by its blanks is too long as well" \
	acmectl --config "$TEST_TMP/long4" config show
t_like "$ERR" "long4:2: the line is too long" "names the file and line"
# Regression (found by tests/fuzz/fuzz_config.c): a NUL byte hid the length
# of a line from the reader, and the tail of a long one was read as a line.
python3 -c "import sys; sys.stdout.write('log_level = info\nx\0' + 'y' * 300 + '\nlog_level = debug\n')" > "$TEST_TMP/nul"
t_exit 78 "a NUL byte exits 78" acmectl --config "$TEST_TMP/nul" config show
t_like "$ERR" "nul:2: the line holds a NUL byte" "names the file and line"

# values that do not make sense: check exits 78, show still works
printf 'log_level = chatty\n' > "$TEST_TMP/bad5"
t_exit 78 "config check rejects a bad log level" acmectl --config "$TEST_TMP/bad5" config check
t_like "$ERR" 'log_level "chatty" \(from .*bad5:1\)' "the bad value and its origin are named"
t_ok "config show still shows a config with bad values" acmectl --config "$TEST_TMP/bad5" config show
ACME_ENV=staging t_exit 78 "an unknown ACME_ENV exits 78" acmectl config check
t_like "$ERR" 'env "staging" \(from env ACME_ENV\)' "names the value and where it came from"
t_exit 2 "--env with an unknown name is a usage error" acmectl --env staging config check
REDIS_URL=http://x t_exit 78 "a malformed REDIS_URL exits 78" acmectl --env development config check
ACME_CONNECT_TIMEOUT=0 t_exit 78 "connect_timeout out of range exits 78" acmectl --env development config check

# Files that hold secrets must be private, as ssh asks of a private key: a
# config file setting a URL with a password, and the *_FILE files. (A file
# root owns may let its group read it: PostgreSQL's rule, for Kubernetes
# secret volumes and root:acmectl 0640 files in /etc.)
: > "$cfgdir/config"
printf 'redis_url = redis://:cfgpw@h:1\n' > "$TEST_TMP/pwconf"
chmod 644 "$TEST_TMP/pwconf"
t_exit 78 "a world-readable config file with a password is refused" \
	acmectl --env development --config "$TEST_TMP/pwconf" config show
t_like "$ERR" "config file $TEST_TMP/pwconf holds a secret and is accessible by others \\(mode 0644\\); run: chmod 600 $TEST_TMP/pwconf" \
	"the message names the file, its mode and the fix"
t_unlike "$ERR" 'cfgpw' "and not the password"
printf '[env.production]\ndatabase_url = postgresql://u:pp@h/x\n' > "$TEST_TMP/pwconf2"
chmod 604 "$TEST_TMP/pwconf2"
t_exit 78 "a password in another environment's section counts too" \
	acmectl --env development --config "$TEST_TMP/pwconf2" config show
chmod 600 "$TEST_TMP/pwconf"
t_ok "the same file, mode 0600, is accepted" acmectl --env development --config "$TEST_TMP/pwconf" config show
chmod 400 "$TEST_TMP/pwconf"
t_ok "0400 is accepted" acmectl --env development --config "$TEST_TMP/pwconf" config show
printf 'log_level = debug\nredis_url = redis://h:1\n' > "$TEST_TMP/nopw"
chmod 644 "$TEST_TMP/nopw"
t_ok "a readable config file without a password is fine" \
	acmectl --env development --config "$TEST_TMP/nopw" config show
chmod 644 "$TEST_TMP/dburl"
DATABASE_URL_FILE="$TEST_TMP/dburl" t_exit 78 "a world-readable DATABASE_URL_FILE is refused" acmectl config show
t_like "$ERR" "DATABASE_URL_FILE $TEST_TMP/dburl holds a secret .*chmod 600 $TEST_TMP/dburl" "names the variable, the file and the fix"
printf 'database_url_file = %s\n' "$TEST_TMP/dburl" > "$TEST_TMP/viafile"
t_exit 78 "so is one named by a *_file key" acmectl --env development --config "$TEST_TMP/viafile" config show
t_like "$ERR" "database_url_file $TEST_TMP/dburl holds a secret" "naming the key"
chmod 660 "$TEST_TMP/dburl"
DATABASE_URL_FILE="$TEST_TMP/dburl" t_exit 78 "a group-writable one too" acmectl config show
if [ "$(id -u)" = 0 ]; then
	chmod 640 "$TEST_TMP/dburl"
	DATABASE_URL_FILE="$TEST_TMP/dburl" t_ok "root-owned 0640 is accepted (a service group reads it)" acmectl config show
	chown 1 "$TEST_TMP/dburl"
fi
chmod 640 "$TEST_TMP/dburl"
DATABASE_URL_FILE="$TEST_TMP/dburl" t_exit 78 "group-readable and not root's is refused" acmectl config show
t_like "$ERR" "accessible by its group \\(mode 0640\\)" "says who may read it"
chmod 600 "$TEST_TMP/dburl"
printf 'secret_key_file = %s/nokey\n' "$TEST_TMP" > "$TEST_TMP/kf"
unset ACME_SECRET_KEY_FILE      # test-lib's key: the environment would win
t_ok "secret_key_file is a setting" acmectl --env development --config "$TEST_TMP/kf" config show -o json
t_json "$OUT" "d['settings']['secret_key_file']['value']=='$TEST_TMP/nokey'" "shown by config show"
ACME_SECRET_KEY_FILE=/k t_ok "ACME_SECRET_KEY_FILE sets it" \
	acmectl --env development --config "$TEST_TMP/kf" config show -o json
t_json "$OUT" "d['settings']['secret_key_file']['origin']=='env ACME_SECRET_KEY_FILE'" "with its origin"
export ACME_SECRET_KEY_FILE="$TEST_SECRET_KEY"

rm "$cfgdir/config"
t_exit 78 "production without DATABASE_URL exits 78" acmectl --env production config check
t_like "$ERR" 'DATABASE_URL is not set' "says what is missing"
DATABASE_URL=postgresql:///x REDIS_URL=unix:///tmp/x.sock t_ok "production with both URLs passes check" \
	acmectl --env production config check

t_done
