# wirelab-dig against BIND's dig and Knot's kdig, all asking the same knotd in lab 03.
# Figures: the wall time of one whole process (start, one query, print, exit) for a small
# answer over UDP, and for a 40-record answer that truncates without EDNS0 and is retried
# over TCP, and for a zone transfer printed record by record. Medians over interleaved runs,
# so a busy moment hits all tools alike.
source "$(dirname "$0")/lib.sh"
instance=bdig
ns="wl-$instance-client"
server=@10.0.2.2
"$WIRELAB" down --instance "$instance" >/dev/null 2>&1 || true
trap '"$WIRELAB" down --instance "$instance" >/dev/null 2>&1 || true' EXIT
"$WIRELAB" up 03 --instance "$instance" >/dev/null
in_client() { ip netns exec "$ns" "$@"; }
# Warm the page cache and knotd before measuring.
in_client "$WIRELAB_BIN/wirelab-dig" "$server" small.lab.test >/dev/null
in_client dig "$server" small.lab.test >/dev/null
in_client kdig "$server" small.lab.test >/dev/null
ours=(); theirs=(); knot=(); ours_tcp=(); theirs_tcp=(); ours_xfr=(); theirs_xfr=()
for _ in $(seq 1 15); do
  ours+=("$(wall_ms in_client "$WIRELAB_BIN/wirelab-dig" "$server" small.lab.test)")
  theirs+=("$(wall_ms in_client dig "$server" small.lab.test)")
  knot+=("$(wall_ms in_client kdig "$server" small.lab.test)")
  ours_tcp+=("$(wall_ms in_client "$WIRELAB_BIN/wirelab-dig" "$server" +noedns medium.lab.test)")
  theirs_tcp+=("$(wall_ms in_client dig "$server" +noedns medium.lab.test)")
  ours_xfr+=("$(wall_ms in_client "$WIRELAB_BIN/wirelab-dig" "$server" lab.test AXFR)")
  theirs_xfr+=("$(wall_ms in_client dig "$server" lab.test AXFR)")
done
row wirelab-dig "query wall time vs dig (UDP, small)" "$(median "${ours[@]}")" "$(median "${theirs[@]}")" ms "<= 0.5x"
row wirelab-dig "query wall time vs kdig (UDP, small)" "$(median "${ours[@]}")" "$(median "${knot[@]}")" ms "info"
row wirelab-dig "TC -> TCP fallback wall time vs dig (+noedns, 40 records)" "$(median "${ours_tcp[@]}")" "$(median "${theirs_tcp[@]}")" ms "<= 0.5x"
row wirelab-dig "AXFR wall time vs dig (lab.test, 173 records)" "$(median "${ours_xfr[@]}")" "$(median "${theirs_xfr[@]}")" ms "<= 0.5x"
