# wirelab-udp (labs 08, 09): 2 seconds of datagrams at 2 Mbit/s from h1 to srv, then what the
# receiver counted (lost, reordered, duplicated, jitter, one-way delay). The demo's links are
# clean, so nothing is lost; the labs add loss and delay.
received=$(mktemp)
"$WIRELAB" exec --instance "$INSTANCE" srv -- timeout 20 "$WIRELAB_BIN/wirelab-udp" serve --once --interval 0 >"$received" 2>&1 &
receiver=$!
sleep 0.5
in_node h1 "$WIRELAB_BIN/wirelab-udp" send srv --rate 2M --time 2s
wait "$receiver" || true
echo; echo "[srv]\$ $WIRELAB_BIN/wirelab-udp serve --once --interval 0   (started before the send)"
cat "$received"; rm -f "$received"
