#!/bin/sh
# A CGI that streams QUERY_STRING rows (default 1000), one write per row: with no
# Content-Length, apache2 sends them chunked, a chunk or a few per row (issue #14 item 1).
echo "Content-Type: text/plain"
echo
rows=${QUERY_STRING:-1000}
i=0
while [ "$i" -lt "$rows" ]; do
  i=$((i + 1))
  echo "row $i"
done
