#!/bin/sh
# demo.sh — what `make demo` runs: the main job on the embedded default (the
# dev stack), as a newcomer would see it.
set -eu
cd "$(dirname "$0")/../.."
acmectl=./acmectl
unset DATABASE_URL REDIS_URL
export ACME_ENV=development

echo "== starting the dev stack (private PostgreSQL and Redis on unix sockets)"
$acmectl dev up
echo
echo "== dev stack status"
$acmectl dev status
echo
echo "== configuration (secrets redacted, each value's source)"
$acmectl config show
echo
echo "== checking both servers answer"
$acmectl config check --connect
if $acmectl help migrate >/dev/null 2>&1; then
	echo
	echo "== migrating the schema"
	$acmectl migrate up
	$acmectl migrate status
fi
if $acmectl help health >/dev/null 2>&1; then
	echo
	echo "== readiness"
	$acmectl health --ready
fi
echo
echo "The dev stack keeps running; stop it with: ./acmectl dev down"
