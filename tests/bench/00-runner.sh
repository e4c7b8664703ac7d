# The lab runner: `netlab up chain:30` followed by `netlab down` (target: at most 3 s).
source "$(dirname "$0")/lib.sh"
runs=()
for i in 1 2 3 4 5; do
  runs+=("$(wall_ms bash -c "$NETLAB up chain:30 --instance bench && $NETLAB down --instance bench")")
done
"$NETLAB" down --instance bench >/dev/null 2>&1 || true
row netlab "up chain:30 + down" "$(median "${runs[@]}")" - ms "<= 3000 ms"
