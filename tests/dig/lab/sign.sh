#!/bin/sh
# sign.sh RUN COMMAND...: sign the lab's DNSSEC zones with fresh keys in RUN, then become
# COMMAND (named). Every lab instance gets its own keys; trust.anchors (for Unbound) holds the
# key-signing keys.
#   signed.test  NSEC, ECDSA P-256 (algorithm 13)
#   nsec3.test   NSEC3 (the same zone file, another name)
#   bogus.test   signed, then one record changed: validation must fail
set -e
run=$1; shift
cd "$run"
: > trust.anchors
for zone in signed.test nsec3.test bogus.test; do
    source=signed.test.zone
    [ "$zone" = bogus.test ] && source=bogus.test.zone
    sed "s/@ZONE@/$zone/g" "$source" > "$zone.unsigned"
    ksk=$(dnssec-keygen -q -a ECDSAP256SHA256 -f KSK -n ZONE "$zone")
    zsk=$(dnssec-keygen -q -a ECDSAP256SHA256 -n ZONE "$zone")
    cat "$ksk.key" "$zsk.key" >> "$zone.unsigned"
    nsec3=
    [ "$zone" = nsec3.test ] && nsec3="-3 - -H 0"
    # Signatures valid from an hour ago for 30 days, so a clock a little behind still validates.
    dnssec-signzone -q $nsec3 -s now-3600 -e now+2592000 -o "$zone" -f "$zone.signed" \
        "$zone.unsigned" "$ksk" "$zsk" >/dev/null
    grep -v '^;' "$ksk.key" >> trust.anchors
done
# bogus.test: change a signed record's data, keep its signature.
sed -i 's/192\.0\.2\.66/192.0.2.99/' bogus.test.signed
exec sh "$(dirname "$0")/unconfined.sh" "$@"
