#!/bin/sh
# search-trgm.sh — what the description trigram index earns (issue 15;
# docs/notes/import-rebuild.md): ROWS (1,000,000) products imported into a
# throwaway PostgreSQL + Redis (tests/lib/servers.sh), then `products list`
# filters timed (best of 5, the whole command) with both trigram indexes and
# again without the description one.
#
#   sh tests/bench/search-trgm.sh          ROWS=200000 sh tests/bench/search-trgm.sh
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
ROWS=${ROWS:-1000000}
dir=$(mktemp -d /tmp/acme-trgm.XXXXXX); chmod 755 "$dir"
trap 'sh "$top/tests/lib/servers.sh" stop "$dir/srv" >/dev/null 2>&1; rm -rf "$dir"' EXIT
sh $top/tests/lib/servers.sh start $dir/srv >/dev/null
. $dir/srv/env
unset DATABASE_URL_FILE REDIS_URL_FILE ACME_CONFIG
export ACME_ENV=test XDG_CONFIG_HOME=$dir/config REDIS_URL="unix://$TEST_REDIS_SOCK" ACME_LOG_LEVEL=warning ACME_REDIS_PREFIX=trgm:
P="$TEST_PG_BIN/psql -X -q -At -h $TEST_PG_HOST -U acme"
$P -d postgres -c "CREATE DATABASE m1 TEMPLATE acme_template"
export DATABASE_URL="postgresql:///m1?host=$TEST_PG_HOST&user=acme"
f=$top/build/bench/catalog-$ROWS-v0.csv
[ -s $f ] || python3 $top/tests/bench/gen-catalog.py -n $ROWS -o $f
t0=$(date +%s.%N)
$top/acmectl -q import $f >/dev/null
$top/acmectl worker --burst --queues import >/dev/null 2>&1
echo "import of $ROWS rows: $(echo "$(date +%s.%N) - $t0" | bc) s, method $($P -d m1 -c "SELECT result->>'method' FROM jobs WHERE type='import'")"
$P -d m1 -c "VACUUM ANALYZE products"
$P -d m1 -c "SELECT 'sizes: table ' || pg_size_pretty(pg_relation_size('products')) || ', name trgm ' || pg_size_pretty(pg_relation_size('products_name_trgm_idx')) || ', description trgm ' || pg_size_pretty(pg_relation_size('products_description_trgm_idx'))"
q() { # label args...
  best=999999
  for _ in 1 2 3 4 5; do
    s=$(date +%s%N); $top/acmectl products list "$@" -o json > $dir/out.json; e=$(date +%s%N)
    ms=$(( (e - s) / 1000000 )); [ $ms -lt $best ] && best=$ms
  done
  n=$(python3 -c "import json; d=json.load(open('$dir/out.json')); print(d['page']['total'])")
  printf '  %-44s best of 5: %5d ms  (%s matches)\n' "$*" $best "$n"
}
run_all() {
  q --description 'gasket'
  q --description 'Škoda'
  q --description 'sprocket coupling'
  q --description 'no such words'
  q --name 'hinge'
  q --query 'Müller'
}
echo "with both trigram indexes:"; run_all
$P -d m1 -c "DROP INDEX products_description_trgm_idx"
echo "without the description trigram index:"; run_all
$P -d m1 -c "CREATE INDEX products_description_trgm_idx ON products USING gin (description gin_trgm_ops)"
