# wirelab-synwatch (lab 05): a short, bounded SYN flood from h1 against a small listener on srv,
# watched from inside srv. The listener is started here with a 30 s lifetime and stopped by
# its PID; the flood is bounded by -c. srv's SYN-ACKs to the forged sources die at r2, which
# has no route for them.
synwatch_port=7005
echo; echo "[srv]\$ python3 labs/05-syn-flood/listener.py $synwatch_port 16 accept &   (30 s lifetime)"
"$WIRELAB" exec --instance "$INSTANCE" srv -- \
  timeout 30 python3 "$WIRELAB_LABS/05-syn-flood/listener.py" "$synwatch_port" 16 accept &
synwatch_listener=$!
for _ in $(seq 50); do
  "$WIRELAB" exec --instance "$INSTANCE" srv -- ss -Hlnt "sport = :$synwatch_port" | grep -q . && break
  sleep 0.1
done
echo; echo "[srv]\$ wirelab-synwatch -i eth-r2 -p $synwatch_port --duration 5 &"
"$WIRELAB" exec --instance "$INSTANCE" srv -- \
  timeout 60 "$WIRELAB_BIN/wirelab-synwatch" -i eth-r2 -p "$synwatch_port" --duration 5 &
synwatch_watch=$!
sleep 0.7
in_node h1 python3 "$WIRELAB_LABS/05-syn-flood/clients.py" srv "$synwatch_port" 2
in_node h1 hping3 -q -S -p "$synwatch_port" --rand-source -c 3000 -i u100 srv || true
wait "$synwatch_watch" || true
kill "$synwatch_listener" 2>/dev/null || true
wait "$synwatch_listener" 2>/dev/null || true
