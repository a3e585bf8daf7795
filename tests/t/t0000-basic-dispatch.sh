#!/bin/sh
# The dispatcher: command lookup by name, alias and prefix, unknown commands,
# help, version and the documented usage exit code.
. "$(dirname "$0")/../lib/test-lib.sh"

t_ok "--version prints version and libraries" acmectl --version
t_like "$OUT" '^acmectl [0-9]+\.[0-9]+\.[0-9]+ \(revision [^,]+, built ' "--version names version, revision, build date"
t_like "$OUT" 'libpq 1[0-9]' "--version lists libpq"
t_like "$OUT" 'hiredis' "--version lists hiredis"

t_ok "version -o json" acmectl version -o json
t_json "$OUT" "d['version'] and isinstance(d['libraries'], list)" "version JSON parses"

t_exit 2 "no command is a usage error" acmectl
t_like "$ERR" 'usage: acmectl' "no command prints usage on stderr"

t_exit 2 "unknown command exits 2" acmectl confg
t_like "$ERR" "did you mean 'config'" "unknown command suggests the closest"

t_exit 2 "nonsense command exits 2" acmectl zzzzzzzzzz
t_like "$ERR" "not an acmectl command" "nonsense command says so"

t_ok "unique prefix finds a command" acmectl conf show
t_like "$OUT" 'database_url' "prefix 'conf' ran config show"

t_ok "an alias finds a command" acmectl cfg show
t_like "$OUT" 'redis_url' "alias 'cfg' ran config show"

t_ok "help lists commands" acmectl help
t_like "$OUT" 'config' "help lists config"
t_unlike "$OUT" '__complete' "help hides __complete"

t_ok "help COMMAND" acmectl help config
t_like "$OUT" 'usage: acmectl config' "help config shows its usage"

t_ok "CMD --help" acmectl config --help
t_like "$OUT" 'show' "config --help lists verbs"

t_ok "CMD VERB --help" acmectl dev down --help
t_like "$OUT" '--purge' "dev down --help lists --purge"

t_exit 2 "unknown option exits 2" acmectl config show --bogus
t_like "$ERR" 'unknown option --bogus' "unknown option is named"

t_exit 2 "bad -o value exits 2" acmectl config show -o yaml
t_like "$ERR" 'yaml' "bad format is named"

t_exit 2 "unknown verb exits 2" acmectl config frobnicate
t_exit 2 "extra argument exits 2" acmectl config show extra
t_exit 2 "help for an unknown command exits 2" acmectl help nosuch
t_ok "help accepts a verb prefix like dispatch does" acmectl help dev st
t_like "$OUT" 'usage: acmectl dev status' "help dev st shows dev status"
t_exit 2 "help of a command without verbs rejects a verb" acmectl help version extra
t_ok "--version after a command prints the version" acmectl config show --version
t_like "$OUT" '^acmectl [0-9]' "and does not run the command"

t_done
