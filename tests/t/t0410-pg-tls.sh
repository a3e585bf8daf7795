#!/bin/sh
# PostgreSQL over verified TLS (issue 16, part 3): a CA and a server
# certificate made here with openssl, a PostgreSQL of this test's own with
# ssl=on on 127.0.0.1, and DATABASE_URL with sslmode=verify-full and
# sslrootcert. migrate, health, an import, a product list and a worker running
# jobs all work over it, every connection encrypted; a wrong CA, a certificate
# for another name and a missing CA file are refused with exit 69 and a reason
# that names certificate verification and what to fix.
. "$(dirname "$0")/../lib/test-lib.sh"
need_servers                    # the run's Redis, under this file's prefix
. "$TEST_TOP/tests/lib/worker-lib.sh"

PGD=$TEST_TMP/pgtls
stop_tls_pg() { sh "$TEST_TOP/tests/lib/servers.sh" pg-stop "$PGD"; }
_t_cleanup_extra="$_t_cleanup_extra stop_tls_pg"

# ---- a test CA, a server certificate for localhost and 127.0.0.1 ----
mkcert() {	# NAME CN SAN CA — NAME.key, NAME.crt signed by CA (NAME = CA: self-signed)
	if [ "$1" = "$4" ]; then
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
			-keyout "$TEST_TMP/$1.key" -out "$TEST_TMP/$1.crt" -days 2 -subj "/CN=$2" \
			-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=keyCertSign,cRLSign"
	else
		openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
			-keyout "$TEST_TMP/$1.key" -out "$TEST_TMP/$1.csr" -subj "/CN=$2" &&
		printf 'subjectAltName=%s\n' "$3" >"$TEST_TMP/$1.ext" &&
		openssl x509 -req -in "$TEST_TMP/$1.csr" -CA "$TEST_TMP/$4.crt" -CAkey "$TEST_TMP/$4.key" \
			-CAcreateserial -out "$TEST_TMP/$1.crt" -days 2 -extfile "$TEST_TMP/$1.ext"
	fi
}
t_ok "a test CA" mkcert ca "acme test CA" - ca
t_ok "a server certificate for localhost and 127.0.0.1" \
	mkcert server localhost "DNS:localhost,IP:127.0.0.1" ca
t_ok "another CA, which signed nothing here" mkcert otherca "another CA" - otherca
mkdir -p "$PGD/tls"
cp "$TEST_TMP/server.crt" "$TEST_TMP/server.key" "$PGD/tls/"
chmod 600 "$PGD/tls/server.key"
[ "$(id -u)" -ne 0 ] || chown -R postgres "$PGD/tls"

t_ok "a PostgreSQL with ssl=on on 127.0.0.1" sh "$TEST_TOP/tests/lib/servers.sh" pg-tcp-start "$PGD" \
	-c ssl=on -c "ssl_cert_file=$PGD/tls/server.crt" -c "ssl_key_file=$PGD/tls/server.key"
PORT=$(cat "$PGD/port")
"$TEST_PG_BIN/psql" -X -q -h "$PGD" -p "$PORT" -U acme -d postgres -c 'CREATE DATABASE acme' >/dev/null

TLS="sslmode=verify-full&sslrootcert=$TEST_TMP/ca.crt"
export DATABASE_URL="postgresql://acme@localhost:$PORT/acme?$TLS"
# psql over the unix socket: the test's own look at the server
tlspsql() { "$TEST_PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$PGD" -p "$PORT" -U acme -d acme "$@"; }
# acmectl's sessions, and those not encrypted
sessions() {
	tlspsql -c "SELECT count(*) FILTER (WHERE $1) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
		WHERE a.application_name LIKE 'acmectl%'"
}

# ---- everything works over verified TLS ----
t_ok "migrate up over verify-full" acmectl -q migrate up
t_is "$(tlspsql -c "SELECT count(*) > 0 FROM acmectl_migrations")" t "the migrations are recorded"
t_ok "health --ready" acmectl health --ready
t_ok "config check --connect" acmectl config check --connect

printf '%s\n' 'sku,name,description,active,price' 'TLS-1,Tunnel,Encrypted,true,10.00' \
	'TLS-2,Cipher,,true,2.50' >"$TEST_TMP/a.csv"
t_ok "an import is queued" acmectl -q import "$TEST_TMP/a.csv"
job=$OUT
start_worker w -Q import=1,default=1
t_ok "a worker over verify-full runs it" wait_for 60 \
	"[ \"\$(tlspsql -c \"SELECT state FROM jobs WHERE id = '$job'\")\" = succeeded ]"
noop=$(enqueue noop '{"commit": "tls"}')
t_ok "and a noop job that commits" wait_for 60 \
	"[ \"\$(tlspsql -c \"SELECT state FROM jobs WHERE id = '$noop'\")\" = succeeded ]"
t_ok "the worker has sessions open" test "$(sessions true)" -gt 0
t_is "$(sessions 'NOT s.ssl')" 0 "every one of them encrypted"
stop_worker w
t_is "$W_STATUS" 0 "the worker stops cleanly"
t_ok "products list" acmectl products list -o json
t_like "$OUT" '"TLS-1"' "lists the imported products"
t_like "$OUT" '"TLS-2"' "both of them"

# ---- refused: wrong CA, another name, a missing CA file ----
DATABASE_URL="postgresql://acme@localhost:$PORT/acme?sslmode=verify-full&sslrootcert=$TEST_TMP/otherca.crt" \
	t_exit 69 "a CA that did not sign the server's certificate: exit 69" acmectl config check --connect
t_like "$ERR" "postgresql at localhost:$PORT: .*certificate verify failed" "libpq's reason"
t_like "$ERR" "TLS certificate verification failed.*sslrootcert" \
	"and a hint naming certificate verification and sslrootcert"
DATABASE_URL="postgresql://acme@localhost:$PORT/acme?sslmode=verify-full&sslrootcert=$TEST_TMP/otherca.crt" \
	t_exit 1 "health --ready with the wrong CA: 1, a failure waiting will not fix (as a wrong password)" \
	acmectl health --ready
t_like "$ERR" "TLS certificate verification failed" "health gives the same reason"
DATABASE_URL="postgresql://acme@localhost:$PORT/acme?sslmode=verify-full&sslrootcert=$TEST_TMP/otherca.crt" \
	t_exit 69 "migrate status with the wrong CA: exit 69" acmectl migrate status

DATABASE_URL="postgresql://acme@db.wrong.example:$PORT/acme?hostaddr=127.0.0.1&$TLS" \
	t_exit 69 "verify-full against a certificate for another name: exit 69" acmectl config check --connect
t_like "$ERR" 'does not match host name "db.wrong.example"' "libpq's reason names the host"
t_like "$ERR" "TLS certificate verification failed.*host name" "the hint says what to check"

DATABASE_URL="postgresql://acme@localhost:$PORT/acme?sslmode=verify-full&sslrootcert=$TEST_TMP/nofile.crt" \
	t_exit 69 "a missing CA file: exit 69" acmectl config check --connect
t_like "$ERR" "nofile.crt" "names the file"
t_like "$ERR" "sslrootcert" "and the parameter to fix"

t_done
