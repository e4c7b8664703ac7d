# wirelab-http (lab 04): keep-alive against close, side by side, on nginx at srv. Port 80
# closes a connection after 3 requests, so 10 requests need 4 connections; with
# --no-keepalive every request pays for its own handshake.
in_node h1 "$WIRELAB_BIN/wirelab-http" -n 10 --each http://srv/
in_node h1 "$WIRELAB_BIN/wirelab-http" -n 10 --each --no-keepalive http://srv/
echo; echo "--- keep-alive vs close, 2000 requests each on port 8080:"
in_node h1 "$WIRELAB_BIN/wirelab-http" -n 2000 http://srv:8080/
in_node h1 "$WIRELAB_BIN/wirelab-http" -n 2000 --no-keepalive http://srv:8080/
