# wirelab-traceroute vs Butskoy traceroute 2.1 on a chain of 29 routers (the target is hop 30):
# wall time with every hop answering, and with every hop from 6 on silent (-w 1). Target: at
# most traceroute's. Runs alternate ours / theirs so both see the same machine load.
source "$(dirname "$0")/lib.sh"
instance=${BENCH_INSTANCE:-btrace}
"$WIRELAB" down --instance "$instance" >/dev/null 2>&1 || true
trap '"$WIRELAB" down --instance "$instance" >/dev/null 2>&1 || true' EXIT
"$WIRELAB" up chain:29 --instance "$instance" >/dev/null
in_node() { local node=$1; shift; "$WIRELAB" exec --instance "$instance" "$node" -- "$@"; }
nodes="h1 h2"; for i in $(seq 1 29); do nodes="$nodes r$i"; done
# Interleaved runs would otherwise spend the routers' ICMP token buckets (6 answers, then one
# per second per destination; and the per-namespace global limit, whose count the kernel
# randomizes) and measure the rate limit instead of the tools.
for node in $nodes; do
  in_node "$node" sysctl -qw net.ipv4.icmp_ratelimit=0 net.ipv6.icmp.ratelimit=0 \
    net.ipv4.icmp_msgs_per_sec=1000000 net.ipv4.icmp_msgs_burst=1000000
done
target=10.0.30.2
# Median wall times in ms of ours and Butskoy's for the same arguments, measured by hyperfine
# inside h1 (so `wirelab exec` is not in the figure), with warm-up runs. hyperfine runs all of
# one command's runs before the other's, so a change in machine load between the two blocks
# lands on one tool only (see 01-ping.sh): rounds alternate which tool goes first. Prints
# "OURS REF" for a round.
hyperfine_pair() {
  local round=$1 runs=$2; shift 2
  local csv; csv=$(mktemp)
  local first second
  if (( round % 2 )); then
    in_node h1 hyperfine -N --style none --warmup 3 --runs "$runs" --export-csv "$csv" \
      "$WIRELAB_BIN/wirelab-traceroute $*" "traceroute $*" >/dev/null 2>&1
  else
    in_node h1 hyperfine -N --style none --warmup 3 --runs "$runs" --export-csv "$csv" \
      "traceroute $*" "$WIRELAB_BIN/wirelab-traceroute $*" >/dev/null 2>&1
  fi
  # CSV columns: command,mean,stddev,median,... in seconds, one row per command in order.
  read -r first second < <(awk -F, 'NR > 1 {printf "%.3f ", $4 * 1000}' "$csv")
  rm -f "$csv"
  if (( round % 2 )); then echo "$first $second"; else echo "$second $first"; fi
}
# Six rounds of 20 runs each; the figure is the median of the rounds' medians.
ours=(); theirs=()
for round in 1 2 3 4 5 6; do
  read -r a b < <(hyperfine_pair "$round" 20 -n "$target")
  ours+=("$a"); theirs+=("$b")
done
row traceroute "chain:29 all answering, -n" "$(median "${ours[@]}")" "$(median "${theirs[@]}")" ms "<= 1.0x"

# Silent from hop 6 on: r6 drops the Time Exceeded it would send and every probe it would
# forward, so neither a router nor the target answers TTL 6 and up.
in_node r6 nft -f - <<'NFT'
table inet bench {
  chain out { type filter hook output priority 0; icmp type time-exceeded drop; }
  chain forward_probes { type filter hook forward priority 0; udp dport 33434-65535 drop; }
}
NFT
ours=(); theirs=()
for run in 1 2 3; do
  ours+=("$(wall_ms in_node h1 "$WIRELAB_BIN/wirelab-traceroute" -n -w 1 "$target")")
  theirs+=("$(wall_ms in_node h1 traceroute -n -w 1 "$target")")
done
row traceroute "chain:29 silent from hop 6, -n -w 1" "$(median "${ours[@]}")" "$(median "${theirs[@]}")" ms "<= 1.0x"
