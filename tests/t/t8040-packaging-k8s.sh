#!/bin/sh
# The Kubernetes manifests (packaging/k8s): every overlay renders and passes
# packaging/k8s/validate (its own kustomize subset, compared with `kubectl
# kustomize` when kubectl is installed; a JSON Schema per kind; the deployment
# policy); each overlay renders the namespace, replicas, image tag, Redis
# prefix and concurrency it promises; the YAML is yamllint-clean; and a copy
# of packaging/k8s broken on purpose (a grace period shorter than the drain,
# two schedulers, a container without limits, a Secret with data, a migrate
# Job without its hook, a `latest` tag, too little memory for the children,
# a staging ACME_ENV, a kustomize feature outside the subset) fails with a
# message naming the overlay, the object and the field. No cluster is needed.
. "$(dirname "$0")/../lib/test-lib.sh"
command -v python3 >/dev/null 2>&1 || t_skip_all "python3 is not installed"
python3 -c 'import yaml, jsonschema' 2>/dev/null ||
	t_skip_all "python3-yaml and python3-jsonschema are not installed (packaging/install-deps)"

K8S=$TEST_TOP/packaging/k8s
V=$K8S/validate
if command -v kubectl >/dev/null 2>&1; then
	t_diag "kubectl: $(kubectl version --client 2>/dev/null | tr '\n' ' ')(renderer compared with kubectl kustomize)"
else
	t_diag "kubectl is not installed: the renderer is not compared with kubectl kustomize"
fi

# ---- the overlays as they are --------------------------------------------------------------------
t_ok "validate: every overlay passes" "$V"
t_is "$ERR" "" "validate: nothing on stderr"
for o in development staging production preview; do
	t_like "$OUT" "^ok $o: " "validate checked $o"
done
t_ok "validate --no-kubectl: every overlay passes with the built-in renderer alone" "$V" --no-kubectl
t_ok "validate one overlay" "$V" production
t_exit 64 "validate: an unknown option is a usage error" "$V" --frobnicate
t_like "$ERR" "usage: validate" "with the usage on stderr"
t_exit 64 "validate: an unknown overlay is a usage error" "$V" nosuch
t_exit 64 "validate --render without an overlay is a usage error" "$V" --render

# facts OVERLAY: one line of what the rendered overlay says
facts() {
	"$V" --render "$1" | python3 -c '
import sys, yaml
objs = [o for o in yaml.safe_load_all(sys.stdin) if o]
def get(kind, name):
    return next(o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name)
w, s = get("Deployment", "acmectl-worker"), get("Deployment", "acmectl-scheduler")
cm = get("ConfigMap", "acmectl-config")
c = w["spec"]["template"]["spec"]["containers"][0]
a = c["args"]
print("ns=%s worker=%s scheduler=%s image=%s env=%s prefix=%s concurrency=%s memory=%s grace=%s namespaces=%s" % (
    w["metadata"]["namespace"], w["spec"]["replicas"], s["spec"]["replicas"], c["image"],
    cm["data"]["ACME_ENV"], cm["data"]["ACME_REDIS_PREFIX"], a[a.index("--concurrency") + 1],
    c["resources"]["limits"]["memory"], w["spec"]["template"]["spec"]["terminationGracePeriodSeconds"],
    ",".join(o["metadata"]["name"] for o in objs if o["kind"] == "Namespace") or "-"))
'
}
t_is "$(facts development)" \
	"ns=acme-development worker=1 scheduler=1 image=ghcr.io/acme/acmectl:0.1.0 env=development prefix=acme:development: concurrency=1 memory=1792Mi grace=45 namespaces=-" \
	"development: namespace, 1 worker, tag, prefix, concurrency 1"
t_is "$(facts staging)" \
	"ns=acme-staging worker=2 scheduler=1 image=ghcr.io/acme/acmectl:0.1.0 env=production prefix=acme:staging: concurrency=2 memory=3328Mi grace=45 namespaces=-" \
	"staging: namespace, 2 workers, tag, its own prefix (ACME_ENV production), concurrency 2"
t_is "$(facts production)" \
	"ns=acme-production worker=4 scheduler=1 image=ghcr.io/acme/acmectl:0.1.0 env=production prefix=acme:production: concurrency=3 memory=4864Mi grace=45 namespaces=-" \
	"production: namespace, 4 workers, tag, prefix, concurrency 3"
t_is "$(facts preview)" \
	"ns=acme-pr-PRNUMBER worker=1 scheduler=1 image=ghcr.io/acme/acmectl:pr-PRNUMBER env=production prefix=acme:pr-PRNUMBER: concurrency=1 memory=1792Mi grace=45 namespaces=acme-pr-PRNUMBER" \
	"preview: its Namespace, tag and prefix carry the PRNUMBER placeholder"

# what CI does with the preview: substitute the pull request's number
pr=$("$V" --render preview | sed 's/PRNUMBER/42/g')
t_unlike "$pr" "PRNUMBER" "preview: sed leaves no placeholder"
t_like "$pr" "namespace: acme-pr-42" "preview: namespace acme-pr-42"
t_like "$pr" "ACME_REDIS_PREFIX: '?acme:pr-42:'?" "preview: prefix acme:pr-42:"
t_like "$pr" "acme.example/database: pr_42" "preview: database pr_42"

all=$("$V" --render production)
t_unlike "$all" "kind: Secret" "no Secret in the rendered output (created out of band)"
t_like "$all" "argocd.argoproj.io/hook: PreSync" "the migrate Job is a PreSync hook"
t_like "$all" "helm.sh/hook: pre-install,pre-upgrade" "and a Helm pre-install,pre-upgrade hook"

# every YAML file starts with its header comment
for f in $(find "$K8S" -name '*.yaml' | sort); do
	t_like "$(sed -n '1,12p' "$f")" "validated by packaging/k8s/validate, run by make k8s-check and tests/t/t8040" \
		"header comment: ${f#"$TEST_TOP"/}"
done

if command -v yamllint >/dev/null 2>&1; then
	if [ -f "$TEST_TOP/packaging/.yamllint" ]; then	# the rules of every YAML file under packaging/
		t_ok "yamllint (packaging/.yamllint, warnings fail)" yamllint -s -c "$TEST_TOP/packaging/.yamllint" "$K8S"
	fi
	t_ok "yamllint -d relaxed" yamllint -s -d relaxed "$K8S"
else
	t_skip "yamllint is not installed"
fi

# ---- broken on purpose ---------------------------------------------------------------------------
n=0
broken() {	# broken: a fresh copy of packaging/k8s in $B
	n=$((n + 1))
	B=$TEST_TMP/k8s-$n
	cp -r "$K8S" "$B"
}

broken
sed -i 's/terminationGracePeriodSeconds: 45/terminationGracePeriodSeconds: 20/' "$B/base/worker.yaml"
t_exit 1 "grace period 20 s: validate fails" "$B/validate" --no-kubectl
t_like "$ERR" "production: Deployment/acmectl-worker: spec.template.spec.terminationGracePeriodSeconds is 20: it must be above --shutdown-timeout \(30s\) \+ 3 s" \
	"it names the overlay, the worker and the drain"

broken
sed -i 's/^  replicas: 1$/  replicas: 2/' "$B/base/scheduler.yaml"
t_exit 1 "two schedulers: validate fails" "$B/validate" --no-kubectl
t_like "$ERR" "staging: Deployment/acmectl-scheduler: spec.replicas is 2: the scheduler runs exactly 1 replica" \
	"it names the scheduler's replicas"

broken
sed -i 's/type: Recreate/type: RollingUpdate/' "$B/base/scheduler.yaml"
t_exit 1 "a rolling scheduler: validate fails" "$B/validate" --no-kubectl
t_like "$ERR" "Deployment/acmectl-scheduler: spec.strategy.type is RollingUpdate: the scheduler needs Recreate" \
	"it names the scheduler's strategy"

broken
sed -i '/^            limits:$/,+2d' "$B/base/migrate-job.yaml"
t_exit 1 "a container without limits: validate fails" "$B/validate" --no-kubectl
t_like "$ERR" "development: Job/acmectl-migrate: container migrate: resources.limits.cpu is missing" \
	"it names the Job, the container and the field"

broken
cat >"$B/base/secret.yaml" <<'EOF'
# a Secret committed by mistake
apiVersion: v1
kind: Secret
metadata:
  name: acmectl-secrets
stringData:
  database-url: postgresql://acme:hunter2@db/acme
EOF
sed -i 's/^  - networkpolicy.yaml$/&\n  - secret.yaml/' "$B/base/kustomization.yaml"
t_exit 1 "a Secret with data: validate fails" "$B/validate" --no-kubectl
t_like "$ERR" "production: Secret/acmectl-secrets: carries data: .*out of band \(kubectl create secret generic acmectl-secrets" \
	"it names the Secret and says how to create it"

broken
sed -i '/argocd.argoproj.io\/hook: PreSync/d' "$B/base/migrate-job.yaml"
t_exit 1 "a migrate Job without its PreSync hook: validate fails" "$B/validate" --no-kubectl
t_like "$ERR" "preview: Job/acmectl-migrate: metadata.annotations\[argocd.argoproj.io/hook\] is None, want 'PreSync'" \
	"it names the Job and the annotation"

broken
sed -i 's/newTag: "0.1.0"/newTag: "latest"/' "$B/overlays/production/kustomization.yaml"
t_exit 1 "image tag latest: validate fails" "$B/validate" --no-kubectl
t_like "$ERR" "production: Deployment/acmectl-worker: container worker: image ghcr.io/acme/acmectl:latest: pin a tag" \
	"it names the overlay and the image"
t_unlike "$ERR" "staging:" "and only that overlay"

broken
sed -i 's/value: 4864Mi/value: 2Gi/' "$B/overlays/production/kustomization.yaml"
t_exit 1 "too little memory for the children: validate fails" "$B/validate" --no-kubectl
t_like "$ERR" "production: Deployment/acmectl-worker: container worker: resources.limits.memory 2048Mi is below 9 children .* = 4736Mi" \
	"it counts pools x concurrency children"

broken
sed -i 's/ACME_ENV=production/ACME_ENV=staging/' "$B/overlays/staging/kustomization.yaml"
t_exit 1 "ACME_ENV=staging: validate fails" "$B/validate" --no-kubectl
t_like "$ERR" "staging: ConfigMap/acmectl-config: data.ACME_ENV is 'staging': acmectl accepts only development, test, production" \
	"it says which environments acmectl knows"

broken
sed -i 's/"ACME_REDIS_PREFIX=acme:staging:"/"ACME_REDIS_PREFIX=acme:production:"/' \
	"$B/overlays/staging/kustomization.yaml"
t_exit 1 "two overlays sharing a Redis prefix: validate fails" "$B/validate" --no-kubectl
t_like "$ERR" "ACME_REDIS_PREFIX 'acme:production:' is also" "it names the shared prefix"

broken
printf 'namePrefix: x-\n' >>"$B/overlays/development/kustomization.yaml"
t_exit 1 "a kustomize feature outside the subset: validate fails" "$B/validate" --no-kubectl
t_like "$ERR" "development: render: overlays/development/kustomization.yaml: namePrefix: not in the kustomize subset" \
	"it names the file and the field"
t_exit 1 "and --render fails too" "$B/validate" --render development

broken
sed -i 's/- --live\]/- --ready]/; s/command: \[acmectl, health, --live\]/command: [acmectl, health, --ready]/' \
	"$B/base/worker.yaml"
t_exit 1 "a liveness probe that needs the network: validate fails" "$B/validate" --no-kubectl
t_like "$ERR" "Deployment/acmectl-worker: container worker: livenessProbe.exec.command is \['acmectl', 'health', '--ready'\], want \['acmectl', 'health', '--live'\]" \
	"it names the probe"

broken
sed -i 's/readOnlyRootFilesystem: true/readOnlyRootFilesystem: false/' "$B/base/scheduler.yaml"
t_exit 1 "a writable root filesystem: validate fails" "$B/validate" --no-kubectl
t_like "$ERR" "Deployment/acmectl-scheduler: container scheduler: securityContext.readOnlyRootFilesystem is False, want True" \
	"it names the container and the field"

broken
sed -i 's/port: 443$/port: 8080/' "$B/base/networkpolicy.yaml"
t_exit 1 "egress to another port: validate fails" "$B/validate" --no-kubectl
t_like "$ERR" "NetworkPolicy/acmectl: spec.egress\[2\]: port 8080/TCP is not DNS, PostgreSQL, Redis or HTTPS" \
	"it names the rule"

broken
sed -i 's/^      restartPolicy: Never$/      restartPolicy: Never\n      hostNetwork: true/' "$B/base/migrate-job.yaml"
t_exit 1 "a pod spec field the schema does not know: validate fails" "$B/validate" --no-kubectl
t_like "$ERR" "Job/acmectl-migrate: schema: spec.template.spec: Additional properties are not allowed \('hostNetwork'" \
	"the schema names the field"
# the comparison with kubectl kustomize catches a renderer that went wrong
if command -v kubectl >/dev/null 2>&1; then
	broken
	sed -i 's/bool(entry.get("includeTemplates")) or bool/bool/' "$B/validate"
	t_exit 1 "a renderer that forgets includeTemplates: validate fails" "$B/validate" development
	t_like "$ERR" "development: renderer drift: Deployment/acmectl-worker: spec.template.metadata.labels.app.kubernetes.io/part-of: only in kubectl" \
		"it names the drift"
	t_ok "and --no-kubectl does not see it" "$B/validate" --no-kubectl development
else
	t_skip "kubectl is not installed: no drift check"
fi
# a kubectl whose kustomize is older than v5 (Debian bookworm's 1.20) is not compared
mkdir -p "$TEST_TMP/oldbin"
printf '#!/bin/sh\n[ "$1" = version ] && { echo "{\\"clientVersion\\": {\\"gitVersion\\": \\"v1.20.0\\"}}"; exit 0; }\necho "kubectl kustomize: unknown field labels" >&2; exit 1\n' \
	>"$TEST_TMP/oldbin/kubectl"
chmod +x "$TEST_TMP/oldbin/kubectl"
t_ok "an old kubectl (kustomize v2): validate passes" env PATH="$TEST_TMP/oldbin:$PATH" "$V"
t_like "$OUT" "older than v5: not compared" "and says it did not compare"
t_done
