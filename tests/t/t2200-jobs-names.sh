#!/bin/sh
# Names are validated: unknown queues, job types, states and sort fields exit 2
# and list the valid ones. Regression (issue 11, point 7): `jobs pause
# nosuchqueue` said "paused" and `jobs list --type imp` listed nothing, silently.
# Known queues: every job type's default queue plus every queue Redis has seen.
. "$(dirname "$0")/../lib/test-lib.sh"
need_servers

t_exit 2 "jobs pause of an unknown queue" acmectl jobs pause nosuchqueue
t_like "$ERR" 'unknown queue "nosuchqueue" \(known queues: .*default.*import' "lists the known queues"
t_is "$(acmectl jobs stats -o tsv | cut -f1 | grep -c nosuchqueue)" 0 "the queue was not created"
t_exit 2 "jobs resume of an unknown queue" acmectl jobs resume nosuchqueue
t_exit 2 "jobs stats --queue unknown" acmectl jobs stats --queue nosuchqueue
t_exit 2 "jobs purge --queue unknown" acmectl jobs purge --queue nosuchqueue --yes
t_exit 2 "jobs list --queue unknown" acmectl jobs list --queue nosuchqueue
t_like "$ERR" 'unknown queue "nosuchqueue"' "says so"
t_exit 2 "jobs list --type imp" acmectl jobs list --type imp
t_like "$ERR" 'unknown job type "imp" \(known types: .*import' "lists the known types"
t_exit 2 "jobs list --state bogus" acmectl jobs list --state bogus
t_like "$ERR" 'queued' "lists the states"
t_exit 2 "products list --sort bogus" acmectl products list --sort bogus
t_like "$ERR" 'sku' "lists the sort fields"

t_ok "a default queue needs no job yet" acmectl jobs pause import
t_ok "and resumes" acmectl jobs resume import
t_ok "a job on a new queue" acmectl jobs enqueue noop --queue bulk
t_ok "makes that queue known" acmectl jobs pause bulk
t_like "$ERR" "queue bulk paused" "it is paused"
t_ok "jobs list --queue bulk" acmectl jobs list --queue bulk -o tsv
t_ok "jobs list --type import (none yet)" acmectl jobs list --type import
t_is "$(acmectl __complete jobs pause '' | sort | tr '\n' ' ')" "default import webhooks " \
	"jobs pause completes the job types' queues"

t_done
