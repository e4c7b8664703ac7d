# wirelab-ping across the demo topology (h1 — r1 — r2 — srv): replies with ttl=62, the first
# router's Time Exceeded, a bounded flood, and the first exchange decoded field by field.
in_node h1 "$WIRELAB_BIN/wirelab-ping" -c 3 -i 0.2 srv
in_node h1 "$WIRELAB_BIN/wirelab-ping" -c 1 -t 1 srv || true
in_node h1 "$WIRELAB_BIN/wirelab-ping" -q -f -c 1000 srv
in_node h1 "$WIRELAB_BIN/wirelab-ping" --explain -c 1 10.0.3.2
