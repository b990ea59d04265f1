#!/usr/bin/env bash
# Proves that `make deploy-check` can fail: breaks a copy of the deployment files in one
# way at a time and expects run.sh to reject each copy, for the reason the case names.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

pristine="$work/pristine"
mkdir -p "$pristine/deploy"
cp "$repo/Dockerfile" "$repo/docker-compose.yml" "$repo/.env.example" "$pristine/"
cp -r "$repo/deploy/k8s" "$pristine/deploy/k8s"

failures=0
cases=0

# expect_rejection STAGE FILE OLD NEW EXPECTED WHAT
# Replaces the first line equal to OLD in FILE (relative to the copy) by NEW (nothing when
# NEW is empty), runs the STAGE of run.sh on the copy, and expects it to fail with EXPECTED
# in its output.
expect_rejection() {
  local stage="$1" file="$2" old="$3" new="$4" expected="$5" what="$6"
  local copy="$work/case" log="$work/case.log"
  cases=$((cases + 1))
  rm -rf "$copy"
  cp -r "$pristine" "$copy"
  if ! OLD="$old" NEW="$new" "${PYTHON:-python3}" - "$copy/$file" <<'PY'
import os
import sys
from pathlib import Path

path = Path(sys.argv[1])
lines = path.read_text().splitlines(keepends=True)
old, new = os.environ["OLD"], os.environ["NEW"]
for index, line in enumerate(lines):
    if line.rstrip("\n") == old:
        lines[index] = new + "\n" if new else ""
        path.write_text("".join(lines))
        break
else:
    sys.exit(f"no line {old!r} in {path}")
PY
  then
    echo "FAIL  $what: could not break $file; update deploy/check/selftest.sh to the file as it is now" >&2
    failures=$((failures + 1))
    return
  fi
  if "$here/run.sh" --only "$stage" --overlay dev "$copy" >"$log" 2>&1; then
    echo "FAIL  $what: deploy-check accepted it" >&2
    failures=$((failures + 1))
  elif ! grep -qF -- "$expected" "$log"; then
    echo "FAIL  $what: deploy-check failed, but without '$expected':" >&2
    sed 's/^/      /' "$log" >&2
    failures=$((failures + 1))
  else
    echo "ok    rejects $what"
  fi
}

expect_rejection docker Dockerfile \
  'USER 10001:10001' 'USER root' \
  'DL3002' "a Dockerfile whose last user is root"

expect_rejection compose docker-compose.yml \
  '    shm_size: 256m' '    shm_sise: 256m' \
  "additional properties 'shm_sise' not allowed" "an unknown Compose key"
expect_rejection compose docker-compose.yml \
  '    condition: service_healthy' '    condition: service_started' \
  'starts without waiting for nats to be healthy' "a Compose service that does not wait for a healthy dependency"
expect_rejection compose .env.example \
  'TRADELANE_IMAGE_TAG=dev' '' \
  '${TRADELANE_IMAGE_TAG} is used in docker-compose.yml but not documented' "an undocumented Compose variable"

expect_rejection k8s deploy/k8s/base/kustomization.yaml \
  '  - signals.yaml' '  - signal.yaml' \
  'signal.yaml' "a kustomization that names a missing file"
expect_rejection k8s deploy/k8s/base/nats/nats.conf \
  '  sync_interval: always' '  sync_interval: sometimes' \
  'error parsing sync_interval' "an invalid NATS setting"
expect_rejection k8s deploy/k8s/base/indicators.yaml \
  '          image: tradelane/indicators' '          image: tradelane/indicators
          imagePullPolicyy: Always' \
  "'imagePullPolicyy' was unexpected" "a container field the schema does not know (strict)"
expect_rejection k8s deploy/k8s/base/market-data.yaml \
  '  replicas: 1' '  replicas: one' \
  "'one' is not of type 'integer'" "a value of the wrong type"
expect_rejection k8s deploy/k8s/base/signals.yaml \
  'apiVersion: policy/v1' 'apiVersion: policy/v2' \
  "Couldn't find schema for kind PodDisruptionBudget with api version policy/v2" "an apiVersion without a schema"
expect_rejection k8s deploy/k8s/base/kustomization.yaml \
  '      labelSelector: app.kubernetes.io/component in (worker,scheduler)' \
  '      labelSelector: app.kubernetes.io/component in (worker)' \
  'Deployment/scheduler container app: livenessProbe is missing' "a Deployment without probes"
expect_rejection k8s deploy/k8s/base/provision-job.yaml \
  '        runAsNonRoot: true' '        runAsNonRoot: false' \
  'Job/tradelane-provision: pod securityContext.runAsNonRoot must be true' "a pod that may run as root"
expect_rejection k8s deploy/k8s/base/lineage.yaml \
  '                  name: tradelane-secrets' '                  name: tradelane-secret' \
  'references Secret tradelane-secret,' "a Secret that nothing provides"

if ((failures)); then
  echo "selftest: deploy-check let $failures of $cases broken copies through" >&2
  exit 1
fi
echo "selftest: deploy-check rejected all $cases broken copies"
