#!/bin/sh
# Redis over TLS (rediss://) against redis-server started with TLS and a test
# CA made here: commands, the worker (supervisor and children), pub/sub
# (jobs watch), options from the URL and from the config, client
# certificates, ACL users; and the refusals: a wrong CA, a wrong name, a
# plain port, tls_insecure in production, a wrong password.
. "$(dirname "$0")/../lib/test-lib.sh"
need_servers
. "$TEST_TOP/tests/lib/worker-lib.sh"

command -v openssl >/dev/null || t_skip_all "openssl is not installed"
redis-server --help 2>&1 | grep -q -- '--tls-port' || redis-server --version | grep -q 'v=[67]' ||
	t_skip_all "this redis-server has no TLS"

# ---- a test CA, a server certificate for localhost and 127.0.0.1, a client
# certificate, and a second CA that signed none of them ----
pki=$TEST_TMP/pki
mkdir -p "$pki"
mkcert() {	# name subject [ext] [ca] — an EC key and a certificate signed by ca (or self-signed)
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout "$pki/$1.key" -out "$pki/$1.csr" -subj "$2" 2>/dev/null || return 1
	if [ -n "${4:-}" ]; then
		printf '%s\n' "${3:-basicConstraints=CA:FALSE}" >"$pki/$1.ext"
		openssl x509 -req -in "$pki/$1.csr" -CA "$pki/$4.crt" -CAkey "$pki/$4.key" \
			-CAcreateserial -days 2 -out "$pki/$1.crt" -extfile "$pki/$1.ext" 2>/dev/null
	else
		openssl x509 -req -in "$pki/$1.csr" -signkey "$pki/$1.key" -days 2 -out "$pki/$1.crt" \
			-extfile /dev/stdin 2>/dev/null <<-EOF
		basicConstraints=critical,CA:TRUE
		keyUsage=critical,keyCertSign,cRLSign
		EOF
	fi
}
mkcert ca /CN=acme-test-ca && mkcert other-ca /CN=acme-other-ca &&
	mkcert server /CN=localhost 'subjectAltName=DNS:localhost,IP:127.0.0.1' ca &&
	mkcert client /CN=acme-worker 'extendedKeyUsage=clientAuth' ca ||
	t_skip_all "openssl could not make the test certificates"
chmod 600 "$pki"/*.key

# ---- redis-server with TLS on a free port, a plain port beside it, and a
# unix socket for the test's own control ----
rdir=$TEST_TMP/tls-redis
mkdir -p "$rdir"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
rsock=$rdir/redis.sock
started=
for _try in 1 2 3 4 5; do
	tport=$(free_port); pport=$(free_port)
	[ "$tport" != "$pport" ] || continue
	redis-server --bind 127.0.0.1 --port "$pport" --tls-port "$tport" \
		--tls-cert-file "$pki/server.crt" --tls-key-file "$pki/server.key" \
		--tls-ca-cert-file "$pki/ca.crt" --tls-auth-clients optional \
		--unixsocket "$rsock" --unixsocketperm 700 --daemonize yes \
		--pidfile "$rdir/redis.pid" --logfile "$rdir/redis.log" --dir "$rdir" \
		--save '' --appendonly no >/dev/null 2>&1 || continue
	if wait_for 10 "redis-cli -s '$rsock' PING >/dev/null 2>&1"; then
		started=1
		break
	fi
	grep -q 'already in use' "$rdir/redis.log" 2>/dev/null || break
done
stop_tls_redis() {
	[ -r "$rdir/redis.pid" ] || return 0
	_p=$(cat "$rdir/redis.pid")
	kill "$_p" 2>/dev/null
	wait_pid "$_p" 30 || kill -9 "$_p" 2>/dev/null
}
_t_cleanup_extra="$_t_cleanup_extra stop_tls_redis"
[ -n "$started" ] || { cat "$rdir/redis.log" >&2; t_skip_all "redis-server did not start with TLS"; }
rc() { redis-cli -s "$rsock" "$@"; }

# an ACL user for acmectl; the default user stays for the test's socket
rc ACL SETUSER app on '>app pass%1' '~*' '&*' '+@all' >/dev/null
ca=$pki/ca.crt
base="rediss://app:app%20pass%251@localhost:$tport"
export REDIS_URL="$base?tls_ca=$ca"

# ---- commands over TLS ----
t_ok "health over TLS, ACL user, CA from the URL" acmectl -q health --ready
out=$(acmectl -o json config show 2>&1)
t_unlike "$out" 'app pass' "config show does not print the password"
id=$(acmectl -q jobs enqueue noop)
t_like "$id" '^[0-9A-Z]{26}$' "jobs enqueue over TLS"
t_ok "every connection of the commands is closed" \
	wait_for 30 "[ \$(rc CLIENT LIST | grep -c 'user=app') -eq 0 ]"

# ---- the worker: supervisor and children over TLS, and pub/sub ----
acmectl -q jobs enqueue noop --count 200 >/dev/null
t_is "$?" 0 "enqueue 200 jobs in batches over TLS"
start_worker w1 -Q default=2
t_ok "the worker runs them" wait_for 60 \
	"[ \$(tpsql -c \"SELECT count(*) FROM jobs WHERE state = 'succeeded'\") -eq 201 ]"
wid=$(acmectl -q jobs enqueue noop --payload '{"progress_steps": 3, "sleep_ms": 30}')
t_exit 0 "jobs watch follows a job to its end over TLS (pub/sub)" acmectl jobs watch "$wid"
t_like "$ERR$(acmectl -o json jobs show "$wid")" 'succeeded' "it succeeded"
users=$(rc CLIENT LIST | grep -c 'user=app')
t_ok "the worker's connections are TLS connections of the ACL user ($users)" test "$users" -ge 3
stop_worker w1
t_is "$W_STATUS" 0 "the worker stops cleanly"
t_ok "and closes every TLS connection (the children's too)" \
	wait_for 30 "[ \$(rc CLIENT LIST | grep -c 'user=app') -eq 0 ]"
t_is "$(tpsql -c "SELECT count(*) FROM jobs WHERE state = 'succeeded' AND attempts = 1")" 202 \
	"every job ran once"

# ---- the options from the config instead of the URL ----
t_ok "the CA from ACME_REDIS_TLS_CA" env REDIS_URL="$base" ACME_REDIS_TLS_CA="$ca" \
	"$ACMECTL" -q health --ready
mkdir -p "$XDG_CONFIG_HOME/acmectl"
printf 'redis_tls_ca = %s\nredis_tls_server_name = localhost\n' "$ca" \
	>"$XDG_CONFIG_HOME/acmectl/config"
t_ok "the CA and the name from the config file" env REDIS_URL="rediss://app:app%20pass%251@127.0.0.1:$tport" \
	"$ACMECTL" -q health --ready
rm -f "$XDG_CONFIG_HOME/acmectl/config"
t_exit 78 "a redis_tls_ option with a plain redis:// URL is refused" \
	env REDIS_URL="redis://localhost:$pport" ACME_REDIS_TLS_CA="$ca" "$ACMECTL" jobs stats
t_like "$ERR" 'redis_tls_ca.*TLS connections only' "naming the setting"
t_exit 78 "an unknown URL option is refused" \
	env REDIS_URL="$base?tls_cafile=$ca" "$ACMECTL" jobs stats
t_like "$ERR" 'unknown option "tls_cafile"' "naming the option"

# ---- verification failures: exit 69, saying why ----
t_exit 69 "a CA that did not sign the server's certificate is refused" \
	env REDIS_URL="$base?tls_ca=$pki/other-ca.crt" "$ACMECTL" jobs stats
t_like "$ERR" "certificate was not accepted: (unable to get local issuer certificate|self-signed certificate in certificate chain)" "the reason"
t_like "$ERR" "localhost:$tport \\(TLS\\)" "and the server"
t_exit 69 "no CA given: the system's store does not know the test CA" \
	env REDIS_URL="$base" "$ACMECTL" jobs stats
t_like "$ERR" "certificate was not accepted" "refused"
t_exit 69 "a name the certificate does not carry is refused" \
	env REDIS_URL="$base?tls_ca=$ca&tls_server_name=redis.example.com" "$ACMECTL" jobs stats
t_like "$ERR" "certificate was not accepted: [Hh]ostname mismatch" "the reason"
t_exit 69 "rediss:// to a plain port fails the handshake" \
	env REDIS_URL="rediss://app:app%20pass%251@localhost:$pport?tls_ca=$ca" ACME_CONNECT_TIMEOUT=1 \
	"$ACMECTL" jobs stats
t_like "$ERR" "is this a TLS port" "saying so"
t_exit 78 "a CA file that cannot be read is a configuration error" \
	env REDIS_URL="$base?tls_ca=$pki/nope.pem" "$ACMECTL" jobs stats
t_like "$ERR" "nope.pem: cannot read certificates" "naming the file"

t_ok "tls_insecure skips verification in development" \
	env REDIS_URL="$base?tls_ca=$pki/other-ca.crt&tls_insecure=1" ACME_ENV=development "$ACMECTL" -q health --ready
t_exit 78 "and is refused in production" \
	env REDIS_URL="$base?tls_insecure=1" ACME_ENV=production "$ACMECTL" jobs stats
t_like "$ERR" "refused in production" "saying why"

t_exit 69 "a wrong password for the ACL user is refused" \
	env REDIS_URL="rediss://app:wrong@localhost:$tport?tls_ca=$ca" "$ACMECTL" jobs stats
t_like "$ERR" "authentication failed" "saying so"
t_unlike "$ERR" "wrong" "without printing the password"

# ---- client certificates ----
rc CONFIG SET tls-auth-clients yes >/dev/null
t_exit 69 "without a client certificate the server refuses" \
	env REDIS_URL="$base?tls_ca=$ca" "$ACMECTL" jobs stats
t_like "$ERR" "closed the TLS connection.*client certificate \\(tls_cert" "suggesting one"
t_ok "with tls_cert and tls_key it accepts" env \
	REDIS_URL="$base?tls_ca=$ca&tls_cert=$pki/client.crt&tls_key=$pki/client.key" \
	"$ACMECTL" -q health --ready
t_ok "from the config too (ACME_REDIS_TLS_CERT, ACME_REDIS_TLS_KEY)" env REDIS_URL="$base?tls_ca=$ca" \
	ACME_REDIS_TLS_CERT="$pki/client.crt" ACME_REDIS_TLS_KEY="$pki/client.key" \
	"$ACMECTL" -q health --ready
t_exit 78 "a key that does not match the certificate is a configuration error" env \
	REDIS_URL="$base?tls_ca=$ca&tls_cert=$pki/client.crt&tls_key=$pki/server.key" \
	"$ACMECTL" jobs stats
t_like "$ERR" "does not match the certificate" "saying so"
chmod 644 "$pki/client.key"
t_exit 78 "a client key that others can read is refused" env \
	REDIS_URL="$base?tls_ca=$ca&tls_cert=$pki/client.crt&tls_key=$pki/client.key" \
	"$ACMECTL" jobs stats
t_like "$ERR" "chmod 600 .*client.key" "with the fix"
chmod 600 "$pki/client.key"
rc CONFIG SET tls-auth-clients optional >/dev/null

t_done
