# ci.mk — the CI/CD recipe's scripts (packaging/ci: pipeline.sh,
# preview-env; github-actions.yml calls them) join `make lint`'s
# shellcheck list; tests/t/t8050 runs them for real against the test
# servers (a preview deployed and smoke-tested, then dropped).
LINT_SH += packaging/ci/pipeline.sh packaging/ci/preview-env
