# netlab-ping against iputils ping, interleaved in the same lab (chain:1, h1 — r1 — h2):
#   1. average RTT over 300 pings at a 2 ms interval (target: within max(5 us, 10 %));
#   2. `-f -c 20000` through one router, wall time (target: at most iputils');
#   3. `-c 1`, the whole process's wall time (target: at most iputils').
source "$(dirname "$0")/lib.sh"
instance=bping
"$NETLAB" down --instance "$instance" >/dev/null 2>&1 || true
trap '"$NETLAB" down --instance "$instance" >/dev/null 2>&1 || true' EXIT
"$NETLAB" up chain:1 --instance "$instance" >/dev/null
target=10.0.2.2
in_h1() { "$NETLAB" exec --instance "$instance" h1 -- "$@"; }
ours="$NETLAB_BIN/netlab-ping"
# Warm up the path (ARP, routes) so the first run is not special.
in_h1 ping -c 2 -i 0.2 -q "$target" >/dev/null

# The avg of an rtt line, in microseconds.
avg_us() { awk -F'/' '/^rtt/ {printf "%.0f\n", $5 * 1000}'; }
# Wall time in microseconds of one command run inside h1, measured inside the node so the
# cost of `netlab exec` is not in the figure.
inner_us() { in_h1 bash -c 's=$(date +%s%N); "$@" >/dev/null 2>&1; e=$(date +%s%N); echo $(( (e - s) / 1000 ))' _ "$@"; }

rtt_ours=(); rtt_ref=()
for i in 1 2 3 4 5; do
  rtt_ours+=("$(in_h1 "$ours" -q -c 300 -i 0.002 "$target" | avg_us)")
  rtt_ref+=("$(in_h1 ping -q -c 300 -i 0.002 "$target" | avg_us)")
done
row ping "avg RTT, 300 pings at -i 0.002" "$(median "${rtt_ours[@]}")" "$(median "${rtt_ref[@]}")" us "within max(5 us, 10 %)"

flood_ours=(); flood_ref=()
for i in 1 2 3 4 5; do
  flood_ours+=("$(echo "scale=3; $(inner_us "$ours" -f -q -c 20000 "$target") / 1000" | bc)")
  flood_ref+=("$(echo "scale=3; $(inner_us ping -f -q -c 20000 "$target") / 1000" | bc)")
done
row ping "-f -c 20000 wall time" "$(median "${flood_ours[@]}")" "$(median "${flood_ref[@]}")" ms "<= 1.0x"

once_ours=(); once_ref=()
for i in $(seq 1 15); do
  once_ours+=("$(echo "scale=3; $(inner_us "$ours" -c 1 "$target") / 1000" | bc)")
  once_ref+=("$(echo "scale=3; $(inner_us ping -c 1 "$target") / 1000" | bc)")
done
row ping "-c 1 process wall time" "$(median "${once_ours[@]}")" "$(median "${once_ref[@]}")" ms "<= 1.0x"
