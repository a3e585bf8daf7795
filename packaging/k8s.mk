# k8s.mk — `make k8s-check`: the Kubernetes manifests (packaging/k8s: a
# kustomize base and the development, staging, production and preview
# overlays) checked without a cluster by packaging/k8s/validate: each overlay
# rendered by its built-in kustomize subset (and compared with `kubectl
# kustomize` when a kubectl with kustomize v5 is installed), every object
# checked against a JSON Schema for its kind, then the deployment policy
# (resources, probes, security context, drain time, one scheduler, migrate
# hooks, no Secret data, pinned tags, memory for the worker's children).
# yamllint (packaging/.yamllint, else -d relaxed) checks the style when
# installed.
# Needs python3-yaml and python3-jsonschema; tests/t/t8040 runs the same
# checks and breaks a copy of the manifests to see each one fail.
# validate is python: nothing to add to LINT_SH.

.PHONY: k8s-check
k8s-check:
	$(Q)packaging/k8s/validate
	$(Q)if command -v yamllint >/dev/null 2>&1; then \
		if [ -f packaging/.yamllint ]; then yamllint -s -c packaging/.yamllint packaging/k8s; \
		else yamllint -s -d relaxed packaging/k8s; fi; \
	else \
		echo "make k8s-check: yamllint is not installed: YAML style not checked" >&2; \
	fi
