#!/bin/bash
# The facts the http differential suite compares (issue #14): facts.sh TOOL COUNT URL [OPTION...]
# runs curl (TOOL=curl) or wirelab-http (TOOL=path to it) on URL, COUNT times over one run, and
# prints only what both must agree on, so the comparison needs no normalizing:
#
#   exit=ok|fail|28|47     success, a failure, or curl's codes for --max-time / --max-redirs
#   status=200 200 ...     the final status of each request (after redirects), on success
#   connections=N          TCP connections opened over the run
#   body=SHA256            of every body written, on success
#
# OPTIONs are one vocabulary for both tools: HEAD (curl -I, ours -X HEAD), CLOSE (curl
# -H 'Connection: close', ours --no-keepalive), --http1.0, -L, --max-redirs N, -m SECONDS, and
# two that only one tool has: --pipeline N (ours; curl cannot pipeline) and --tr-encoding (curl:
# ask it to decode transfer codings, which wirelab-http always does).
tool=$1 count=$2 url=$3
shift 3
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
curl_args=() ours_args=() head=
while [ $# -gt 0 ]; do
  case $1 in
    HEAD) head=1; curl_args+=(-I); ours_args+=(-X HEAD) ;;
    CLOSE) curl_args+=(-H 'Connection: close'); ours_args+=(--no-keepalive) ;;
    --http1.0 | -L) curl_args+=("$1"); ours_args+=("$1") ;;
    --max-redirs | -m) curl_args+=("$1" "$2"); ours_args+=("$1" "$2"); shift ;;
    --pipeline) ours_args+=("$1" "$2"); shift ;;
    --tr-encoding) curl_args+=("$1") ;;
    *) echo "facts.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
if [ "$tool" = curl ]; then
  urls=()
  for _ in $(seq "$count"); do urls+=("$url"); done
  curl -s "${curl_args[@]}" -w '%{stderr}%{http_code} %{num_connects}\n' "${urls[@]}" \
    >"$dir/body" 2>"$dir/facts"
  rc=$?
  statuses=$(awk '{printf "%s%s", sep, $1; sep=" "}' "$dir/facts")
  connections=$(awk '{n += $2} END {print n + 0}' "$dir/facts")
else
  "$tool" --json -o "$dir/body" -n "$count" "${ours_args[@]}" "$url" >"$dir/json" 2>"$dir/err"
  rc=$?
  # The last status of each request: with -L, every hop is a line of its own.
  statuses=$(jq -r 'select(.type == "request") | "\(.seq) \(.status)"' "$dir/json" |
    awk '!($1 in last) {order[++n] = $1} {last[$1] = $2}
         END {for (i = 1; i <= n; i++) printf "%s%s", (i > 1 ? " " : ""), last[order[i]]}')
  connections=$(jq -r 'select(.type == "summary") | .connections' "$dir/json")
fi
case $rc in
  0) echo "exit=ok" ;;
  28 | 47) echo "exit=$rc" ;;
  *) echo "exit=fail" ;;
esac
[ "$rc" = 0 ] && echo "status=$statuses"
echo "connections=${connections:-0}"
[ -n "$head" ] && : >"$dir/body"
[ "$rc" = 0 ] && echo "body=$(sha256sum <"$dir/body" 2>/dev/null | cut -c1-64)"
exit 0
