# The lab runner: `wirelab up chain:30` followed by `wirelab down` (target: at most 3 s).
source "$(dirname "$0")/lib.sh"
runs=()
for i in 1 2 3 4 5; do
  runs+=("$(wall_ms bash -c "$WIRELAB up chain:30 --instance bench && $WIRELAB down --instance bench")")
done
"$WIRELAB" down --instance bench >/dev/null 2>&1 || true
row wirelab "up chain:30 + down" "$(median "${runs[@]}")" - ms "<= 3000 ms"
