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
pg-*)	# single-test servers: the functions at the end of this file
	;;
*)
	echo "usage: servers.sh start|stop DIR, or one of the pg-* commands at the end" >&2
	exit 2
	;;
esac

# ---- PostgreSQL servers of a single test (TLS, failover) ----------------------------------
#
#   servers.sh pg-tcp-start DIR [-c name=value ...]
#        a PostgreSQL of its own in DIR/data, listening on 127.0.0.1 at a free
#        port (and on a unix socket in DIR), user acme, trust authentication,
#        fsync off; the -c options go to the server (ssl=on, ...). Writes
#        DIR/port and DIR/pg.pid.
#   servers.sh pg-standby-start DIR PRIMARY_DIR
#        a streaming standby of the server in PRIMARY_DIR (pg_basebackup -R),
#        on a free port of its own; DIR/port and DIR/pg.pid as above.
#   servers.sh pg-promote DIR     promote the standby in DIR; returns once it
#                                 accepts writes (at most 60 s)
#   servers.sh pg-stop DIR [fast|immediate]
#        stop the server whose pid is in DIR/pg.pid (fast by default) and wait
#        for it to exit, at most 10 s, then SIGKILL. Nothing else is signalled.
#
# The caller stops what it started (a trap): pg-stop is a no-op once stopped.

# A free TCP port on 127.0.0.1 (the kernel's choice). Another process may take
# it before the server binds it: _pg_tcp_run retries with a new port.
_pg_free_port() {
	python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# _pg_tcp_run DIR [-c name=value ...] — start the cluster in DIR/data on a
# free port, retrying (at most 5 ports) when the port was taken meanwhile.
_pg_tcp_run() {
	_d=$1; shift
	_opts="-c listen_addresses=127.0.0.1 -c unix_socket_directories=$_d -c fsync=off"
	_opts="$_opts -c synchronous_commit=off -c full_page_writes=off -c max_connections=100"
	_opts="$_opts -c shared_buffers=32MB -c wal_level=replica -c max_wal_senders=5"
	_opts="$_opts -c hot_standby=on -c wal_keep_size=64MB"
	for _o in "$@"; do
		[ "$_o" = -c ] && continue
		_opts="$_opts -c $_o"
	done
	_try=0
	while [ $_try -lt 5 ]; do
		_try=$((_try + 1))
		_port=$(_pg_free_port)
		if as_pg "$pgbin/pg_ctl" -D "$_d/data" -l "$_d/server.log" -w -t 60 \
			-o "-p $_port $_opts" start >/dev/null 2>&1; then
			echo "$_port" >"$_d/port"
			head -n 1 "$_d/data/postmaster.pid" >"$_d/pg.pid"
			return 0
		fi
		# a port taken meanwhile is worth another try; anything else is not
		grep -q 'could not bind\|Address already in use' "$_d/server.log" 2>/dev/null || break
	done
	echo "servers.sh: PostgreSQL in $_d did not start:" >&2
	tail -n 20 "$_d/server.log" >&2
	return 1
}

pg_tcp_start() {	# DIR [-c name=value ...]
	_d=$1; shift
	mkdir -p "$_d"
	chmod 755 "$_d"
	[ "$(id -u)" -eq 0 ] && chown postgres "$_d"
	as_pg "$pgbin/initdb" -D "$_d/data" -U acme --auth=trust -E UTF8 \
		--locale=C.UTF-8 --no-sync >"$_d/initdb.log" 2>&1 ||
		{ cat "$_d/initdb.log" >&2; return 1; }
	_pg_tcp_run "$_d" "$@"
}

pg_standby_start() {	# DIR PRIMARY_DIR
	_d=$1
	mkdir -p "$_d"
	chmod 755 "$_d"
	[ "$(id -u)" -eq 0 ] && chown postgres "$_d"
	as_pg "$pgbin/pg_basebackup" -h 127.0.0.1 -p "$(cat "$2/port")" -U acme \
		-D "$_d/data" -R -X stream --checkpoint=fast --no-sync >"$_d/basebackup.log" 2>&1 ||
		{ cat "$_d/basebackup.log" >&2; return 1; }
	_pg_tcp_run "$_d"
}

pg_promote() {	# DIR
	as_pg "$pgbin/pg_ctl" -D "$1/data" -w -t 60 promote >/dev/null
}

pg_stop() {	# DIR [fast|immediate]
	[ -r "$1/pg.pid" ] || return 0
	_pid=$(cat "$1/pg.pid")
	alive "$_pid" || return 0
	if [ "${2:-fast}" = immediate ]; then kill -QUIT "$_pid"; else kill -INT "$_pid"; fi 2>/dev/null || true
	_i=0
	while alive "$_pid" && [ $_i -lt 100 ]; do sleep 0.1; _i=$((_i + 1)); done
	alive "$_pid" && kill -KILL "$_pid" 2>/dev/null || true
}

case $cmd in
pg-tcp-start) shift 2; pg_tcp_start "$dir" "$@" ;;
pg-standby-start) pg_standby_start "$dir" "$3" ;;
pg-promote) pg_promote "$dir" ;;
pg-stop) pg_stop "$dir" "${3:-fast}" ;;
esac
