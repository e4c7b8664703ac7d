#!/usr/bin/env bash
# `make bench`: run every tests/bench/NN-*.sh and print one table of medians and ratios.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export WIRELAB_BIN=${WIRELAB_BIN:-$here/../../target/release}
export WIRELAB="$WIRELAB_BIN/wirelab"
export WIRELAB_LABS="$here/../../labs"
[ "$(id -u)" = 0 ] || { echo "make bench needs root (namespaces, raw sockets): sudo make bench" >&2; exit 2; }
command -v bc >/dev/null || { echo "bench needs bc: apt-get install bc" >&2; exit 2; }
rows=$(mktemp); trap 'rm -f "$rows"' EXIT
for script in "$here"/[0-9][0-9]-*.sh; do
  echo "running $(basename "$script") ..." >&2
  bash "$script" >>"$rows"
done
{ printf 'tool\tfigure\tours\treference\tratio\ttarget\n'; cat "$rows"; } | column -t -s $'\t'
