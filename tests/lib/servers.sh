#!/bin/sh
# servers.sh start|stop DIR — one throwaway PostgreSQL and redis-server for a
# test run, on unix sockets inside DIR, tuned for speed (fsync off). `start`
# writes DIR/env (sourceable) and creates the migrated template database
# acme_template that each test file clones. `stop` kills exactly the pids it
# recorded and waits for them to exit.
set -eu
cmd=$1
dir=$2

pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -n "$pgbin" ] || { echo "servers.sh: PostgreSQL server binaries not found; run packaging/install-deps" >&2; exit 1; }

as_pg() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

alive() {	# pid — running and not a zombie
	[ -n "$1" ] && [ -r "/proc/$1/stat" ] || return 1
	state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
	[ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

case $cmd in
start)
	mkdir -p "$dir"
	chmod 755 "$dir"
	mkdir -p "$dir/pg" "$dir/redis"
	[ "$(id -u)" -eq 0 ] && chown postgres "$dir/pg"
	as_pg "$pgbin/initdb" -D "$dir/pg/data" -U acme --auth=trust -E UTF8 \
		--locale=C.UTF-8 --no-sync >"$dir/pg/initdb.log" 2>&1 ||
		{ cat "$dir/pg/initdb.log" >&2; exit 1; }
	as_pg "$pgbin/pg_ctl" -D "$dir/pg/data" -l "$dir/pg/server.log" -w -t 60 \
		-o "-c listen_addresses='' -c unix_socket_directories='$dir/pg' -c fsync=off \
		    -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 \
		    -c shared_buffers=128MB" start >/dev/null ||
		{ cat "$dir/pg/server.log" >&2; exit 1; }
	head -n 1 "$dir/pg/data/postmaster.pid" > "$dir/pg.pid"
	redis-server --port 0 --unixsocket "$dir/redis/redis.sock" --unixsocketperm 700 \
		--daemonize yes --pidfile "$dir/redis/redis.pid" --logfile "$dir/redis/redis.log" \
		--dir "$dir/redis" --save '' --appendonly no >/dev/null
	i=0
	while ! redis-cli -s "$dir/redis/redis.sock" ping >/dev/null 2>&1; do
		i=$((i + 1)); [ $i -lt 100 ] || { echo "servers.sh: redis did not start" >&2; exit 1; }
		sleep 0.1
	done
	cp "$dir/redis/redis.pid" "$dir/redis.pid"
	cat > "$dir/env" <<EOT
TEST_PG_HOST='$dir/pg'
TEST_PG_BIN='$pgbin'
TEST_REDIS_SOCK='$dir/redis/redis.sock'
TEST_SERVERS_DIR='$dir'
EOT
	# the template every test database is cloned from, migrated when the
	# binary knows how
	psql="$pgbin/psql -X -q -v ON_ERROR_STOP=1 -h $dir/pg -U acme"
	$psql -d postgres -c 'CREATE DATABASE acme_template' >/dev/null
	acmectl=${ACMECTL:-$(dirname "$0")/../../acmectl}
	if "$acmectl" help migrate >/dev/null 2>&1; then
		DATABASE_URL="postgresql:///acme_template?host=$dir/pg&user=acme" \
		REDIS_URL="unix://$dir/redis/redis.sock" ACME_ENV=test \
			"$acmectl" -q migrate up >/dev/null
	fi
	;;
stop)
	for f in "$dir/pg.pid" "$dir/redis.pid"; do
		[ -r "$f" ] || continue
		pid=$(cat "$f")
		alive "$pid" || continue
		if [ "$f" = "$dir/pg.pid" ]; then kill -INT "$pid"; else kill -TERM "$pid"; fi 2>/dev/null || true
	done
	for f in "$dir/pg.pid" "$dir/redis.pid"; do
		[ -r "$f" ] || continue
		pid=$(cat "$f")
		i=0
		while alive "$pid" && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
		alive "$pid" && kill -KILL "$pid" 2>/dev/null || true
	done
	;;
*)
	echo "usage: servers.sh start|stop DIR" >&2
	exit 2
	;;
esac
