# wirelab-tcp (lab 06): what recording costs, and how fast its own pair moves data.
# - Recorder cost: the same 1 GiB iperf3 transfer between client and srv of lab 06 (one veth
#   link), with `wirelab-tcp watch` recording it on the client's node (every segment captured,
#   states and tcp_info polled every 10 ms; summary printed only) and without. Figure: iperf3's
#   own sender throughput; target: at most 5 % slower.
# - send/serve against iperf3 on the same link: 1 GiB each (send/serve without their own
#   capture), both measured by one `wirelab-tcp watch` on srv; target: at least 0.95x.
# Runs alternate which variant goes first, so a change in machine load lands on both;
# medians of 8 and 6.
source "$(dirname "$0")/lib.sh"
instance=btcp
"$WIRELAB" down --instance "$instance" >/dev/null 2>&1 || true
trap '"$WIRELAB" down --instance "$instance" >/dev/null 2>&1' EXIT
"$WIRELAB" up 06 --instance "$instance" >/dev/null
in_node() { local node=$1; shift; "$WIRELAB" exec --instance "$instance" "$node" -- timeout 60 "$@"; }
tcp="$WIRELAB_BIN/wirelab-tcp"

in_node srv iperf3 -s -D -p 5201 --pidfile /tmp/wirelab-bench-iperf3-$instance.pid >/dev/null
iperf3_pid() { cat /tmp/wirelab-bench-iperf3-$instance.pid 2>/dev/null; }
trap 'kill "$(iperf3_pid)" 2>/dev/null; rm -f /tmp/wirelab-bench-iperf3-$instance.pid; "$WIRELAB" down --instance "$instance" >/dev/null 2>&1' EXIT
for _ in $(seq 50); do in_node srv ss -Hlnt "sport = :5201" | grep -q . && break; sleep 0.1; done

# iperf3's sender throughput, Gbit/s, for 1 GiB (cubic, as wirelab-tcp pins by default).
iperf3_gbps() { in_node client iperf3 -c srv -p 5201 -n 1G -C cubic -J | python3 -c 'import json,sys; print("%.3f" % (json.load(sys.stdin)["end"]["sum_sent"]["bits_per_second"]/1e9))'; }
# The same transfer while wirelab-tcp watches it from the client's node.
# The watcher's CPU time is kept too ($cpu_file), for the row after it.
cpu_file=$(mktemp); chmod 666 "$cpu_file"
watched_gbps() {
  "$WIRELAB" exec --instance "$instance" client -- perf stat -x, -e task-clock -o "$cpu_file.run" \
    timeout 60 "$tcp" watch --port 5201 -q --for 30s --count 2 >/dev/null 2>&1 &
  local watcher=$!
  sleep 0.5
  iperf3_gbps
  wait "$watcher" 2>/dev/null || true
  awk -F, '/task-clock/ {printf "%.1f\n", $1}' "$cpu_file.run" >>"$cpu_file"
}
plain=(); watched=()
for i in 1 2 3 4 5 6 7 8; do
  if (( i % 2 )); then plain+=("$(iperf3_gbps)"); watched+=("$(watched_gbps)")
  else watched+=("$(watched_gbps)"); plain+=("$(iperf3_gbps)"); fi
done
row tcp "1 GiB iperf3 transfer recorded by watch (Gbit/s)" "$(median "${watched[@]}")" "$(median "${plain[@]}")" Gbit/s ">= 0.95x (<= 5 % slower)"
mapfile -t cpu <"$cpu_file"; rm -f "$cpu_file" "$cpu_file.run"
row tcp "watch's CPU time over that run (start to end)" "$(median "${cpu[@]}")" - ms "(for the record)"

# wirelab-tcp's own pair against iperf3, both 1 GiB from the client to srv, measured the same
# way by one observer: a `wirelab-tcp watch` on srv, whose summary gives each data
# connection's goodput from the wire (first data byte to the ACK of the last). (Each tool's own
# figure measures something else: iperf3 times its test from its control channel's start.)
observed_gbps() {  # $1: port; the rest: the transfer to run
  local port=$1; shift
  "$WIRELAB" exec --instance "$instance" srv -- timeout 60 "$tcp" watch --port "$port" -q --json --for 20s --count 2 >"$work/watch.json" 2>/dev/null &
  local watcher=$!
  sleep 0.5
  "$@" >/dev/null 2>&1
  wait "$watcher" 2>/dev/null || true
  python3 -c 'import json,sys; s=[json.loads(l) for l in open(sys.argv[1])]; s=[e for e in s if e["event"]=="summary"]; best=max(s, key=lambda e: e["bytes_received"]); print("%.3f" % (best["goodput_bps"]/1e9))' "$work/watch.json"
}
ours_transfer() {
  "$WIRELAB" exec --instance "$instance" srv -- timeout 60 "$tcp" serve -q --port 5002 --no-capture >/dev/null 2>&1 &
  local server=$!
  for _ in $(seq 50); do in_node srv ss -Hlnt "sport = :5002" | grep -q . && break; sleep 0.1; done
  in_node client "$tcp" send srv --port 5002 --bytes 1G -q --no-capture --settle 0.2s
  wait "$server" 2>/dev/null || true
}
iperf3_transfer() { in_node client iperf3 -c srv -p 5201 -n 1G -C cubic; }
work=$(mktemp -d)
ours=(); ref=()
for i in 1 2 3 4 5 6; do
  if (( i % 2 )); then ours+=("$(observed_gbps 5002 ours_transfer)"); ref+=("$(observed_gbps 5201 iperf3_transfer)")
  else ref+=("$(observed_gbps 5201 iperf3_transfer)"); ours+=("$(observed_gbps 5002 ours_transfer)"); fi
done
rm -rf "$work"
row tcp "send/serve 1 GiB vs iperf3 -n 1G, goodput seen on srv (Gbit/s)" "$(median "${ours[@]}")" "$(median "${ref[@]}")" Gbit/s ">= 0.95x"
