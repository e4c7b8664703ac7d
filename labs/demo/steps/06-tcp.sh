# wirelab-tcp (lab 06): a 100 KB transfer from h1 to srv across both routers, recorded on both
# ends. The server serves one connection and exits by itself (bounded by --for too); the
# client closes first, so its recording ends in TIME-WAIT.
tcp_port=7006
echo; echo "[srv]\$ wirelab-tcp serve --port $tcp_port -q --for 20s &"
"$WIRELAB" exec --instance "$INSTANCE" srv -- \
  timeout 30 "$WIRELAB_BIN/wirelab-tcp" serve --port "$tcp_port" -q --for 20s &
tcp_server=$!
for _ in $(seq 50); do
  "$WIRELAB" exec --instance "$INSTANCE" srv -- ss -Hlnt "sport = :$tcp_port" | grep -q . && break
  sleep 0.1
done
in_node h1 "$WIRELAB_BIN/wirelab-tcp" send srv --port "$tcp_port" --bytes 100K --max-segments 12
wait "$tcp_server"
