# wirelab-tcp (lab 06): what recording costs, and how fast its own pair moves data.
# - Recorder cost: the same 1 GiB iperf3 transfer between client and srv of lab 06 (one veth
#   link), with `wirelab-tcp watch` recording it on the client's node (every segment captured,
#   states and tcp_info polled every 10 ms; summary printed only) and without. Figure: iperf3's
#   own sender throughput; target: at most 5 % slower.
# - send/serve against iperf3 on the same link: 1 GiB each (send/serve without their own
#   capture), both measured by one `wirelab-tcp watch` on srv; target: at least 0.95x.
# Runs alternate which variant goes first, so a change in machine load lands on all;
# medians of 20 and 6.
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
watched_gbps() {
  "$WIRELAB" exec --instance "$instance" client -- timeout 60 "$tcp" watch --port 5201 -q --for 30s --count 2 >/dev/null 2>&1 &
  local watcher=$!
  sleep 0.5
  iperf3_gbps
  wait "$watcher" 2>/dev/null || true
}
# The watcher's own CPU time (start to end, from perf stat), in runs of its own: while perf
# counts a task, every context switch of the machine passes a perf hook, the transfer's too.
watch_cpu_ms() {
  local out
  out=$(mktemp); chmod 666 "$out"
  "$WIRELAB" exec --instance "$instance" client -- perf stat -x, -e task-clock -o "$out" \
    timeout 60 "$tcp" watch --port 5201 -q --for 30s --count 2 >/dev/null 2>&1 &
  local watcher=$!
  sleep 0.5
  iperf3_gbps >/dev/null
  wait "$watcher" 2>/dev/null || true
  awk -F, '/task-clock/ {printf "%.1f\n", $1}' "$out"
  rm -f "$out"
}
# And while tcpdump captures it, for scale: the classic capture of the same segments (headers
# only, as the recorder takes them: 134 bytes), written nowhere.
tcpdump_gbps() {
  "$WIRELAB" exec --instance "$instance" client -- timeout 60 tcpdump -q -i any -s 134 -w /dev/null 'tcp port 5201' >/dev/null 2>&1 &
  local capture=$!
  sleep 0.7
  iperf3_gbps
  kill "$capture" 2>/dev/null; wait "$capture" 2>/dev/null || true
}
# A 1 GiB transfer lasts about 0.2 s here and the machine's speed drifts by a third from one
# run to the next, so: 20 rounds, each running the three variants back to back in a rotating
# order, and the medians.
plain=(); watched=(); captured=()
for i in $(seq 20); do
  case $(( i % 3 )) in
    0) plain+=("$(iperf3_gbps)"); watched+=("$(watched_gbps)"); captured+=("$(tcpdump_gbps)") ;;
    1) watched+=("$(watched_gbps)"); captured+=("$(tcpdump_gbps)"); plain+=("$(iperf3_gbps)") ;;
    2) captured+=("$(tcpdump_gbps)"); plain+=("$(iperf3_gbps)"); watched+=("$(watched_gbps)") ;;
  esac
done
row tcp "1 GiB iperf3 transfer recorded by watch (Gbit/s)" "$(median "${watched[@]}")" "$(median "${plain[@]}")" Gbit/s ">= 0.95x (<= 5 % slower)"
row tcp "the same captured by tcpdump -s 134 (Gbit/s)" "$(median "${captured[@]}")" "$(median "${plain[@]}")" Gbit/s "(for scale)"
cpu=(); for _ in 1 2 3 4 5; do cpu+=("$(watch_cpu_ms)"); done
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
