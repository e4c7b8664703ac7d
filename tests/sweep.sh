#!/usr/bin/env bash
# After `make test`: take down any test instance whose test process is gone (a test killed
# by a timeout cannot run its Drop). Test instances are named test<PID>x<N> by the harness;
# instances of test processes still running (a parallel run) are left alone. Exits 1 if it
# had anything to remove, so a leaking test is noticed.
set -uo pipefail
wirelab=${1:-target/debug/wirelab}
found=0
instances=$( { ls /run/wirelab 2>/dev/null; ls /run/netns 2>/dev/null | sed -n 's/^wl-\([^-]*\)-.*/\1/p'; } | sort -u)
for instance in $instances; do
  [[ $instance =~ ^test([0-9]+) ]] || continue
  pid=${BASH_REMATCH[1]}
  [ -d "/proc/$pid" ] && continue
  echo "!!! test instance $instance was left behind (its test process $pid is gone): removing it"
  "$wirelab" down --instance "$instance" || true
  found=1
done
exit $found
