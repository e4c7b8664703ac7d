# wirelab-http against wrk on the same nginx (lab 04, port 8080: large keep-alive limits).
# Rows: one keep-alive connection (wrk -t1 -c1), pipelined at depth 16 (wrk with a Lua script
# that sends 16 requests per write), and keep-alive vs --no-keepalive (the lab's ratio); then
# peak RSS against curl's for what a hostile server sends (issue #14): a 1 GiB chunked body
# and a 1 MiB response head, from the http suite's hostile origin (tests/http/servers).
# Medians over interleaved runs; rounds alternate which tool goes first, so a change in machine
# load lands on both (as in 01-ping.sh and 02-traceroute.sh).
source "$(dirname "$0")/lib.sh"
instance=bhttp
servers=bhttpsrv
"$WIRELAB" down --instance "$instance" >/dev/null 2>&1 || true
"$WIRELAB" down --instance "$servers" >/dev/null 2>&1 || true
lua=$(mktemp --suffix=.lua)
trap '"$WIRELAB" down --instance "$instance" >/dev/null 2>&1; "$WIRELAB" down --instance "$servers" >/dev/null 2>&1; rm -f "$lua"' EXIT
"$WIRELAB" up 04 --instance "$instance" >/dev/null
cat >"$lua" <<'LUA'
-- wrk pipelining: one write carries 16 GET requests.
init = function(args)
  local r = {}
  for i = 1, 16 do r[i] = wrk.format(nil, "/") end
  req = table.concat(r)
end
request = function() return req end
LUA
chmod 644 "$lua"
in_h1() { "$WIRELAB" exec --instance "$instance" h1 -- timeout 60 "$@"; }
# Text mode prints nothing per request (the throughput path); the summary has the rate.
ours_rate() { in_h1 "$WIRELAB_BIN/wirelab-http" "$@" | awk '/ req\/s over / {print $1}'; }
wrk_rate() { in_h1 wrk "$@" | awk '/Requests\/sec/ {print $2}'; }
url=http://srv:8080/

ours=(); ref=()
for i in 1 2 3 4 5 6; do
  if (( i % 2 )); then
    ours+=("$(ours_rate -n 8000 "$url")"); ref+=("$(wrk_rate -t1 -c1 -d1s "$url")")
  else
    ref+=("$(wrk_rate -t1 -c1 -d1s "$url")"); ours+=("$(ours_rate -n 8000 "$url")")
  fi
done
row http "keep-alive, 1 connection (req/s)" "$(median "${ours[@]}")" "$(median "${ref[@]}")" "req/s" ">= 1.0x wrk -t1 -c1"

ours=(); ref=()
for i in 1 2 3 4 5 6; do
  if (( i % 2 )); then
    ours+=("$(ours_rate -n 20000 --pipeline 16 "$url")"); ref+=("$(wrk_rate -t1 -c1 -d1s -s "$lua" "$url")")
  else
    ref+=("$(wrk_rate -t1 -c1 -d1s -s "$lua" "$url")"); ours+=("$(ours_rate -n 20000 --pipeline 16 "$url")")
  fi
done
row http "pipelined depth 16 (req/s)" "$(median "${ours[@]}")" "$(median "${ref[@]}")" "req/s" ">= 1.0x wrk pipeline 16"

keep=(); close=()
for i in 1 2 3; do
  keep+=("$(ours_rate -n 4000 "$url")")
  close+=("$(ours_rate -n 2000 --no-keepalive "$url")")
done
row http "keep-alive vs --no-keepalive (req/s)" "$(median "${keep[@]}")" "$(median "${close[@]}")" "req/s" "> 1.0x (the lab's ratio)"

# Peak RSS (KiB, GNU time's %M) of one download; the exit status does not matter (curl and
# wirelab-http both refuse the 1 MiB head, at the same 300 KiB bound).
suite=$(cd "$(dirname "$0")/../http/servers" && pwd)
"$WIRELAB" up "$suite/topology.toml" --instance "$servers" >/dev/null
port_of() { /usr/bin/python3 "$suite/hostile.py" --list | awk -v n="$1" '$1 == n {print $2}'; }
rss() { "$WIRELAB" exec --instance "$servers" client -- timeout 60 /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1; }
for case in gib_chunked head_1m; do
  url=http://srv:$(port_of "$case")/
  ours=(); ref=()
  for i in 1 2 3; do
    ours+=("$(rss "$WIRELAB_BIN/wirelab-http" -o /dev/null "$url")")
    ref+=("$(rss curl -s -o /dev/null "$url")")
  done
  case $case in
    gib_chunked) figure="peak RSS, 1 GiB chunked body (KiB)" ;;
    head_1m) figure="peak RSS, 1 MiB response head (KiB)" ;;
  esac
  row http "$figure" "$(median "${ours[@]}")" "$(median "${ref[@]}")" "KiB" "<= 8192 KiB, <= 1.0x curl"
done
