# Helpers for the benchmark scripts in tests/bench/NN-*.sh. Each script prints rows with
# `row TOOL FIGURE OURS REFERENCE UNIT TARGET`; run.sh gathers them into one table.

# Median of the numbers given as arguments.
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2}'; }

# Wall time of a command in milliseconds.
wall_ms() { local start end; start=$(date +%s%N); "$@" >/dev/null 2>&1; end=$(date +%s%N); echo "scale=3; ($end-$start)/1000000" | bc; }

# One table row; REFERENCE may be a number or "-", TARGET is free text ("<= 1.0x", "<= 3000 ms").
row() {
  local tool=$1 figure=$2 ours=$3 ref=$4 unit=$5 target=$6 ratio="-"
  if [[ $ref =~ ^[0-9.]+$ ]] && [[ $ours =~ ^[0-9.]+$ ]] && [ "$(echo "$ref > 0" | bc)" = 1 ]; then
    ratio=$(echo "scale=2; $ours / $ref" | bc)
  fi
  local ref_text="-"
  [ "$ref" = "-" ] || ref_text="$ref $unit"
  printf '%s\t%s\t%s %s\t%s\t%s\t%s\n' "$tool" "$figure" "$ours" "$unit" "$ref_text" "$ratio" "$target"
}
