#!/bin/sh
# Lay out the document root the suite's servers share: www.sh RUN_DIR LAB_DIR.
# Built at start so the repository holds no large files; every byte is deterministic, so curl
# and wirelab-http must report the same sha256.
set -e
run=$1 lab=$2
mkdir -p "$run/www/sub" "$run/cgi"
printf '<html><body>wirelab http suite</body></html>\n' >"$run/www/index.html"
printf 'small body\n' >"$run/www/small.txt"
printf 'in a subdirectory\n' >"$run/www/sub/index.html"
seq -f 'line %07g of a big static file' 1 60000 >"$run/www/big.txt"
cp "$lab"/cgi/*.sh "$run/cgi/"
chmod 755 "$run" "$run/cgi" "$run"/cgi/*.sh
chmod -R a+rX "$run/www"
i=0
: >"$run/nginx-headers.conf"
while [ "$i" -lt 70 ]; do
  i=$((i + 1))
  echo "add_header X-Field-$i value-$i;" >>"$run/nginx-headers.conf"
done
