# wirelab-synwatch (lab 05): a 200 000-SYN hping3 flood at its fastest bounded rate (-i u1,
# always -c), watched by wirelab-synwatch and by `tcpdump -w /dev/null` with the same filter at
# the same time. Rows: SYNs counted vs an nft counter in srv (the kernel's own count of SYNs
# that arrived), capture drops, and CPU time vs tcpdump: `perf stat -e task-clock`, the time
# the process (and its children: `timeout` for tcpdump) spent on a CPU, to the microsecond
# (/usr/bin/time counts in 10 ms steps, too coarse for figures of a few tens of ms).
# Same work for both: one interface, the same filter, the same 14 s window, whole frames kept
# (tcpdump's default snaplen is synwatch's, 262144), and the same 4 MiB ring (-B 4096: the
# kernel zeroes a ring when it is created, so unequal rings would bill one tool for memory the
# other does not ask for). -w writes raw packets, so tcpdump resolves no names either way.
source "$(dirname "$0")/lib.sh"
instance=bsynwatch
work=$(mktemp -d)
cleanup() { "$WIRELAB" down --instance "$instance" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
"$WIRELAB" up 05 --instance "$instance" >/dev/null
# Without the evidence log: a benchmark measures the tool, not the lab's bookkeeping.
in_srv() { "$WIRELAB" exec --instance "$instance" srv -- env -u WIRELAB_EVIDENCE "$@"; }
# The reference: the kernel counts every pure SYN to :8080 that reaches srv's input hook.
in_srv nft add table inet bench
in_srv nft add chain inet bench input '{ type filter hook input priority 0; }'
in_srv nft add rule inet bench input tcp dport 8080 'tcp flags & (syn | ack) == syn' counter
nft_syns() { in_srv nft list table inet bench | awk '/counter packets/ {for (i=1;i<NF;i++) if ($i=="packets") print $(i+1)}'; }
cpu() { awk -F, '/task-clock/ {printf "%.1f\n", $1}' "$1"; }

count=200000
watch_secs=14
ours_syn=() ref_syn=() ours_drops=() ours_cpu=() dump_cpu=() rate=()
for run in 1 2 3; do
  before=$(nft_syns)
  in_srv perf stat -x, -e task-clock -o "$work/ours.time" \
    "$WIRELAB_BIN/wirelab-synwatch" -i eth-r1 -p 8080 --json --duration "$watch_secs" >"$work/ours.json" 2>/dev/null &
  ours_pid=$!
  in_srv perf stat -x, -e task-clock -o "$work/tcpdump.time" timeout -s INT "$watch_secs" \
    tcpdump -i eth-r1 -B 4096 -w /dev/null 'tcp port 8080 and tcp[tcpflags] & (tcp-syn|tcp-ack|tcp-rst|tcp-fin) != 0' \
    2>"$work/tcpdump.err" &
  dump_pid=$!
  sleep 2
  start=$(date +%s%N)
  "$WIRELAB" exec --instance "$instance" attacker -- \
    timeout 60 hping3 -q -S -p 8080 --rand-source -c "$count" -i u1 srv >/dev/null 2>&1 || true
  end=$(date +%s%N)
  wait "$ours_pid" || true
  wait "$dump_pid" || true
  after=$(nft_syns)
  summary=$(grep '"type":"summary"' "$work/ours.json")
  ours_syn+=("$(echo "$summary" | sed 's/.*"syn":\([0-9]*\).*/\1/')")
  ours_drops+=("$(echo "$summary" | sed 's/.*"kernel_drops":\([0-9]*\).*/\1/')")
  ref_syn+=("$((after - before))")
  rate+=("$(echo "scale=0; ($after - $before) * 1000000000 / ($end - $start)" | bc)")
  ours_cpu+=("$(cpu "$work/ours.time")")
  dump_cpu+=("$(cpu "$work/tcpdump.time")")
done
row synwatch "SYNs counted, 200k flood (ref: nft counter in srv)" "$(median "${ours_syn[@]}")" "$(median "${ref_syn[@]}")" SYNs "= reference"
row synwatch "capture drops (PACKET_STATISTICS), same flood" "$(median "${ours_drops[@]}")" - frames "0"
row synwatch "flood rate reaching srv (hping3 -i u1)" "$(median "${rate[@]}")" - SYN/s "about 35k/s"
row synwatch "CPU time over the run vs tcpdump -w /dev/null" "$(median "${ours_cpu[@]}")" "$(median "${dump_cpu[@]}")" ms "<= 1.0x"
