#!/usr/bin/env bash
# `make demo`: bring up the demo topology (h1 — r1 — r2 — srv), run every finished tool
# across it with bounded arguments, and tear it down, also on Ctrl-C or a failing step.
# Each tool adds one step file in labs/demo/steps/, run in name order.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export WIRELAB_BIN=${WIRELAB_BIN:-$here/../../target/release}
export WIRELAB="$WIRELAB_BIN/wirelab"
export WIRELAB_LABS="$here/.."
export INSTANCE=${WIRELAB_DEMO_INSTANCE:-demo}
[ "$(id -u)" = 0 ] || { echo "make demo needs root (it creates network namespaces): sudo make demo" >&2; exit 2; }
"$WIRELAB" down --instance "$INSTANCE" >/dev/null 2>&1 || true
trap '"$WIRELAB" down --instance "$INSTANCE"' EXIT
"$WIRELAB" up demo --instance "$INSTANCE"
# Runs a command inside a node, echoing it first so the reader sees what ran.
in_node() { local node=$1; shift; echo; echo "[$node]\$ $*"; "$WIRELAB" exec --instance "$INSTANCE" "$node" -- timeout 60 "$@"; }
export -f in_node
for step in "$here"/steps/*.sh; do
  echo; echo "=== $(basename "$step" .sh)"
  # shellcheck source=/dev/null
  source "$step"
done
echo; echo "=== done; tearing down"
