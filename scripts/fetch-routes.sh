#!/usr/bin/env bash
# Produce DIR/routeviews.txt: the RouteViews IPv4 table (606,138 prefixes, 2015-11-01)
# as plain `prefix/len<TAB>asn` lines, taken from Debian's python3-pyasn package.
# Does nothing if the file is already there.
set -euo pipefail

dir=${1:?usage: fetch-routes.sh DIR}
out="$dir/routeviews.txt"
expected=606138

if [[ -s "$out" ]]; then
    exit 0
fi
mkdir -p "$dir"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cd "$tmp"
# apt-get download needs the package lists; refresh them once if it fails.
if ! apt-get download python3-pyasn >/dev/null 2>&1; then
    apt-get update -qq
    apt-get download python3-pyasn
fi
dpkg-deb -x python3-pyasn_*.deb root
src=$(find root/usr -name 'ipasn6_20151101.dat.gz' | head -n1)
if [[ -z "$src" ]]; then
    echo "fetch-routes: ipasn6_20151101.dat.gz not found in python3-pyasn" >&2
    exit 1
fi

# The file mixes IPv4 and IPv6 prefixes and starts with ';' comment lines.
zcat "$src" | awk -F'\t' '$1 ~ /^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+\/[0-9]+$/ { print $1 "\t" $2 }' > routes.txt
count=$(wc -l < routes.txt)
if [[ "$count" -ne "$expected" ]]; then
    echo "fetch-routes: expected $expected IPv4 prefixes, got $count" >&2
    exit 1
fi
cd - >/dev/null
mv "$tmp/routes.txt" "$out"
echo "fetch-routes: wrote $out ($count IPv4 prefixes)"
