# Link impairment accuracy and the daemon's cost (chain:1, h1 — r1 — h2), in one run:
#   1. ping RTT with 10 ms each way on h1—r1: median within 0.3 ms of 20 ms + the plain RTT,
#      99th percentile within 1 ms of it;
#   2. jitter 5 ms (one way, on a 20 ms delay): the RTTs' standard deviation within 20 % of 5 ms;
#   3. loss 10 % (one way) over 10,000 echo requests: between 9 and 11 %;
#   4. rate 10mbit on r1—h2: iperf3 TCP between 9.0 and 10.0 Mbit/s;
#   5. through the daemon with no delay (a drop rule that never fires): TCP throughput at least
#      half of the same link without it, and small UDP packets forwarded at >= 150k packets/s
#      (counted where r1 sends them to h2);
#   6. the daemon's peak RSS while it holds 20 ms of a saturated 1 Gbit/s link.
source "$(dirname "$0")/lib.sh"
instance=bimpair
"$WIRELAB" down --instance "$instance" >/dev/null 2>&1 || true
trap '"$WIRELAB" down --instance "$instance" >/dev/null 2>&1 || true' EXIT
"$WIRELAB" up chain:1 --instance "$instance" >/dev/null
in_node() { local node=$1; shift; "$WIRELAB" exec --instance "$instance" "$node" -- "$@"; }
link() { "$WIRELAB" link "$1" --instance "$instance" "${@:2}" >/dev/null; }
r1=10.0.1.1
h2=10.0.2.2
in_node h1 ping -c 2 -i 0.2 -q "$r1" >/dev/null

# Every RTT of a ping run, in ms, one a line.
rtts() { grep -o 'time=[0-9.]*' | cut -d= -f2; }
# The p-th percentile (0-100) of numbers on stdin.
percentile() { sort -g | awk -v p="$1" '{a[NR]=$1} END {i=int((NR-1)*p/100)+1; print a[i]}'; }
stddev() { awk '{s+=$1; q+=$1*$1; n++} END {m=s/n; printf "%.3f\n", sqrt(q/n-m*m)}'; }

# 1. Delay.
plain=$(in_node h1 ping -n -c 300 -i 0.01 "$r1" | rtts)
base_median=$(echo "$plain" | percentile 50)
link set h1 r1 --delay 10ms
delayed=$(in_node h1 ping -n -c 500 -i 0.01 "$r1" | rtts)
median_ms=$(echo "$delayed" | percentile 50)
p99_ms=$(echo "$delayed" | percentile 99)
want=$(echo "20 + $base_median" | bc -l)
row impair "ping RTT median, 10 ms each way" "$median_ms" "$(printf '%.3f' "$want")" ms "within 0.3 ms"
row impair "ping RTT p99, 10 ms each way" "$p99_ms" "$(printf '%.3f' "$want")" ms "within 1 ms"

# 2. Jitter: one direction, packets 20 ms apart so the no-overtaking rule never bites.
link clear h1 r1
link set h1 r1 --from h1 --delay 20ms --jitter 5ms
spread=$(in_node h1 ping -n -c 400 -i 0.02 "$r1" | rtts | stddev)
row impair "RTT stddev, jitter 5 ms" "$spread" 5 ms "within 20 % (4-6 ms)"

# 3. Loss, in the kernel (nftables at r1's ingress).
link clear h1 r1
link set h1 r1 --from h1 --loss 10%
loss=$(in_node h1 ping -n -q -c 10000 -i 0.001 "$r1" | grep -o '[0-9.]*% packet loss' | cut -d% -f1)
row impair "loss of 10 %, 10,000 echoes" "$loss" 10 % "9-11 %"
link clear h1 r1

# iperf3 TCP (cubic, 5 s) from h1 to h2: received Mbit/s.
iperf_tcp() {
  in_node h2 timeout 20 iperf3 -s -1 -p 5299 >/dev/null 2>&1 &
  sleep 0.5
  in_node h1 iperf3 -c "$h2" -p 5299 -t "${1:-5}" -C cubic -J 2>/dev/null |
    python3 -c 'import json,sys; print("%.2f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e6))'
  wait
}
# iperf3 UDP, 64-byte datagrams as fast as the client can (5 s). Prints two figures: packets/s
# r1 forwarded to h2 (its egress counter: what the link carried), and packets/s iperf3 on h2
# received. The receiver gets a 2 MiB socket buffer: the daemon gives its verdicts in batches,
# so up to 256 packets reach h2 at once, more than the default buffer holds (about 270
# 64-byte datagrams); what the receiving program then drops is not the link's doing.
iperf_udp_pps() {
  in_node h2 timeout 20 iperf3 -s -1 -p 5299 >/dev/null 2>&1 &
  sleep 0.5
  local tx0 tx1 t0 t1 received
  tx0=$(in_node r1 cat /sys/class/net/eth-h2/statistics/tx_packets); t0=$(date +%s%N)
  received=$(in_node h1 iperf3 -c "$h2" -p 5299 -u -b 0 -l 64 -w 2M -t 5 -J 2>/dev/null |
    python3 -c 'import json,sys; e=json.load(sys.stdin)["end"]["sum"]; print("%.0f" % ((e["packets"]-e["lost_packets"])/e["seconds"]))')
  tx1=$(in_node r1 cat /sys/class/net/eth-h2/statistics/tx_packets); t1=$(date +%s%N)
  wait
  echo "$(( (tx1 - tx0) * 1000000000 / (t1 - t0) )) $received"
}

# 4. Rate.
link set r1 h2 --from r1 --rate 10mbit --queue 100
rate=$(iperf_tcp 5)
row impair "iperf3 TCP at rate 10mbit" "$rate" 10 Mbit/s "9.0-10.0 Mbit/s"
link clear r1 h2

# 5. The daemon's own cost: the same link with and without it (r1 -> h2 through the daemon).
tcp_plain=$(iperf_tcp 5)
# $(...), not `read < <(...)`: the function runs a server in the background, and a process
# substitution is not waited for (as in 09-udp.sh).
read -r pps_plain received_plain <<<"$(iperf_udp_pps)"
link set r1 h2 --from r1 --drop 'udp dport 9' --nth 4000000000
daemon_pid() { "$WIRELAB" status --json --instance "$instance" | python3 -c 'import json,sys; print([s["pid"] for s in json.load(sys.stdin)["services"] if s["name"]=="impaird-r1-h2"][0])'; }
stats_file=/run/wirelab/$instance/impaird-link2-from-r1.json
packets() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["packets"])' "$stats_file"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
tcp_daemon=$(iperf_tcp 5)
pid=$(daemon_pid); ticks0=$(cpu_ticks "$pid"); packets0=$(packets)
read -r pps_daemon received_daemon <<<"$(iperf_udp_pps)"
sleep 0.3
ticks1=$(cpu_ticks "$pid"); packets1=$(packets)
# What the daemon could forward with a CPU to itself: packets per second of its own CPU time
# (a figure a busy 2-core machine cannot hide, unlike the end-to-end rate, which is often
# the sender's limit there).
capacity=$(echo "($packets1 - $packets0) / (($ticks1 - $ticks0) / $(getconf CLK_TCK))" | bc 2>/dev/null || echo 0)
row impair "TCP through the daemon (no delay)" "$tcp_daemon" "$tcp_plain" Mbit/s ">= 0.5x"
row impair "64-byte UDP forwarded r1 -> h2 through the daemon" "$pps_daemon" "$pps_plain" pkt/s ">= 150000 pkt/s"
row impair "  of which iperf3 on h2 received" "$received_daemon" "$received_plain" pkt/s "(for the record)"
row impair "daemon capacity, packets per CPU-second" "$capacity" - pkt/s ">= 150000 pkt/s"
link clear r1 h2

# 6. Memory: 20 ms of a saturated 1 Gbit/s link held by the daemon.
link set r1 h2 --from r1 --rate 1gbit --delay 20ms
pid=$("$WIRELAB" status --json --instance "$instance" | python3 -c 'import json,sys; print([s["pid"] for s in json.load(sys.stdin)["services"] if s["name"]=="impaird-r1-h2"][0])')
iperf_tcp 5 >/dev/null
rss_kb=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
held=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["peak_waiting"])' "/run/wirelab/$instance/impaird-link2-from-r1.json")
row impair "daemon peak RSS, 20 ms of 1 Gbit/s held (peak $held packets)" "$(echo "scale=1; $rss_kb/1024" | bc)" - MiB "bounded (headers only)"
