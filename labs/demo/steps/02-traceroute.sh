# traceroute across the demo topology (h1 — r1 — r2 — srv): the two routers, then srv itself
# answering Port Unreachable. Then one ICMP echo probe per hop, decoded (--explain): echo
# probes, because srv's kernel rate-limits Port Unreachable (six, then one a second) and the
# first trace spent most of them. Bounded: -m 5 -w 2.
in_node h1 "$WIRELAB_BIN/wirelab-traceroute" -m 5 -w 2 srv
in_node h1 "$WIRELAB_BIN/wirelab-traceroute" -I -n -q 1 -m 5 -w 2 --explain srv
