#!/bin/sh
# Start a lab server outside any AppArmor profile: Debian confines named and unbound to their
# /etc folders, and a lab keeps its files in its own run folder. Without AppArmor (or without
# aa-exec), the server is started as it is.
if [ -d /sys/kernel/security/apparmor ] && command -v aa-exec >/dev/null 2>&1; then
    exec aa-exec -p unconfined -- "$@"
fi
exec "$@"
