#!/bin/sh
# A CGI that sets 70 cookies: 70 Set-Cookie fields in one head (issue #14 item 2).
i=0
while [ "$i" -lt 70 ]; do
  i=$((i + 1))
  echo "Set-Cookie: cookie$i=value$i; Path=/"
done
echo "Content-Type: text/plain"
echo
echo "70 cookies set"
