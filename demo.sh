#!/usr/bin/env bash
# Samordna, end to end on one machine: a development federation, the relay on its embedded SQLite,
# and Karin Berg, a social worker at Linköpings kommun, sending a SIP plan to Region Östergötland,
# where Anna Lind fetches it and sees who signed it.
#
#   ./demo.sh            run the demo, then stop the relay
#   ./demo.sh --keep     leave the relay running afterwards (Ctrl-C stops it)
#
# Everything lands in $SAMORDNA_DEMO_DIR (default: a new directory under /tmp).
set -euo pipefail
cd "$(dirname "$0")"

keep=no
[ "${1:-}" = "--keep" ] && keep=yes

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "Building samordna-relay and samordna"
cargo build --quiet --bins -p samordna-relay -p samordna
relay_bin=$PWD/target/debug/samordna-relay
client_bin=$PWD/target/debug/samordna

dir=${SAMORDNA_DEMO_DIR:-$(mktemp -d /tmp/samordna-demo.XXXXXX)}
say "A development federation in $dir/federation"
"$relay_bin" dev-federation --out "$dir/federation"
config=$dir/federation/relay/relay.toml
# Listen on a free port, and point the profiles at it.
sed -i 's/^listen = .*/listen = "127.0.0.1:0"/' "$config"

say "Starting the relay (SQLite, mutual TLS)"
"$relay_bin" serve --config "$config" >"$dir/relay.out" 2>"$dir/relay.log" &
relay_pid=$!
cleanup() { [ "$keep" = yes ] || kill "$relay_pid" 2>/dev/null || true; }
trap cleanup EXIT
for _ in $(seq 1 100); do
  grep -q listening "$dir/relay.out" 2>/dev/null && break
  kill -0 "$relay_pid" 2>/dev/null || { cat "$dir/relay.log"; exit 1; }
  sleep 0.1
done
url=$(sed -n 's/.*listening on //p' "$dir/relay.out" | sed 's/127.0.0.1/localhost/')
echo "relay: $url (log: $dir/relay.log)"
for p in "$dir"/federation/profiles/*/profile.toml; do
  sed -i "s|^relay_url = .*|relay_url = \"$url\"|" "$p"
done

karin=("$client_bin" --profile "$dir/federation/profiles/municipality")
anna=("$client_bin" --profile "$dir/federation/profiles/region")
field() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p"; }

say "Who is who"
"${karin[@]}" whoami
"${anna[@]}" whoami

say "Both organisations publish an encryption key"
"${anna[@]}" keys init
"${karin[@]}" keys init

say "Karin opens a SIP case"
case_id=$("${karin[@]}" --json case open | field case_id)
echo "case $case_id"

say "Karin records the person's written consent to share the plan with the region"
until=$(date -u -d '+6 months' +%Y-%m-%d)
"${karin[@]}" consent record --case "$case_id" --party SE2120000449 --party SE2321000032 \
  --kind plan --kind meeting --until "$until" --subject adult --grantor individual --form written

say "Karin sends the plan"
# The example plan of docs/spec/sip-plan-v1.md (a fictional person), for this case.
sed "s/S-3QQFC4FRDNN806FQVPN62MBSZF/$case_id/" docs/spec/sip-plan-v1.example.json >"$dir/sip-plan.json"
envelope=$("${karin[@]}" --json send "$dir/sip-plan.json" --case "$case_id" --to SE2321000032 --kind plan | field envelope_id)
echo "sent $envelope"

say "Anna's inbox at Region Östergötland"
"${anna[@]}" inbox

say "Anna fetches it: decrypted, every signature checked"
"${anna[@]}" fetch "$envelope" --out "$dir/received.json" --save-signature "$dir/received.json.p7s"

if command -v openssl >/dev/null; then
  say "The saved signature stands on its own (openssl, no Samordna software)"
  openssl cms -verify -binary -inform DER -in "$dir/received.json.p7s" -content "$dir/received.json" \
    -CAfile "$dir/federation/ca/root-ca.pem" -purpose any -out /dev/null
fi

say "Karin sees the delivery and Anna's signed receipt"
"${karin[@]}" status "$envelope"

say "The relay never saw the plan: its database holds no trace of the person"
if grep -a -q -e "Tolvan" -e "19121212" "$dir"/federation/relay/relay.db*; then
  echo "FOUND personal data in the relay's database" >&2
  exit 1
fi
echo "no name, no personnummer, no plan text in $dir/federation/relay/relay.db"

if [ "$keep" = yes ]; then
  say "The relay keeps running at $url (pid $relay_pid); profiles are in $dir/federation/profiles"
  wait "$relay_pid"
fi
