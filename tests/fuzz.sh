#!/usr/bin/env bash
# `make fuzz`: run every fuzz target in fuzz/fuzz_targets for a bounded time each.
# cargo-fuzz needs nightly features; RUSTC_BOOTSTRAP lets this stable toolchain use them.
set -euo pipefail
seconds=${1:-30}
cd "$(dirname "$0")/.."
targets=$(ls fuzz/fuzz_targets/*.rs 2>/dev/null | xargs -rn1 basename | sed 's/\.rs$//')
[ -n "$targets" ] || { echo "no fuzz targets yet"; exit 0; }
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
# Seeds: random bytes are rarely a valid topology, so the topology target starts from every
# topology in the tree and mutates those.
mkdir -p fuzz/corpus/topology
for file in labs/*/topology.toml tests/topo/*.toml; do
  cp "$file" "fuzz/corpus/topology/seed-$(echo "$file" | tr '/' '_')"
done
for target in $targets; do
  echo "=== fuzz $target for ${seconds}s"
  RUSTC_BOOTSTRAP=1 cargo fuzz run "$target" -- -max_total_time="$seconds"
done
