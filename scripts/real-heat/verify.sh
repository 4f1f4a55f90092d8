#!/usr/bin/env bash
# Stack lifecycle against the running real Heat, with curl only:
# token -> create (RandomString/None/TestResource) -> CREATE_COMPLETE -> suspend -> resume -> delete.
# Usage: scripts/real-heat/verify.sh   (reads <datadir>/contract.env)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DATA_DIR="${REAL_HEAT_DATA_DIR:-$ROOT/.data/real-heat}"
set -a; . "$DATA_DIR/contract.env"; set +a
PY=/usr/bin/python3
j() { "$PY" -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
t0=$(date +%s.%N); el() { awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%6.2fs", b-a}'; }
say() { echo "[$(el)] $*"; }

hdr=$(mktemp); trap 'rm -f "$hdr"' EXIT
body=$(curl -sS -D "$hdr" -H 'Content-Type: application/json' "$HEAT_CONTRACT_AUTH_URL/auth/tokens" -d @- <<EOT
{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"$HEAT_CONTRACT_USERNAME","domain":{"name":"Default"},"password":"$HEAT_CONTRACT_PASSWORD"}}},
 "scope":{"project":{"name":"$HEAT_CONTRACT_PROJECT","domain":{"name":"Default"}}}}}
EOT
)
TOKEN=$(awk 'tolower($1)=="x-subject-token:"{print $2}' "$hdr" | tr -d '\r')
say "token: $(head -1 "$hdr" | tr -d '\r'), ${#TOKEN} chars"
HEAT=$(j '[e["url"] for s in d["token"]["catalog"] if s["type"]=="orchestration" for e in s["endpoints"] if e["interface"]=="public"][0]' <<<"$body")
say "orchestration endpoint from the catalog: $HEAT"
H=(-H "X-Auth-Token: $TOKEN" -H 'Content-Type: application/json' -H 'Accept: application/json')

NAME="verify-$(date +%s)"
out=$(curl -sS -o /dev/stdout -w '\n%{http_code}' "${H[@]}" "$HEAT/stacks" -d @- <<EOT
{"stack_name": "$NAME", "timeout_mins": 5, "parameters": {"length": 16},
 "template": {"heat_template_version": "2018-08-31", "description": "real-heat verify",
   "parameters": {"length": {"type": "number", "default": 12}},
   "resources": {
     "rand": {"type": "OS::Heat::RandomString", "properties": {"length": {"get_param": "length"}}},
     "none": {"type": "OS::Heat::None"},
     "test": {"type": "OS::Heat::TestResource", "properties": {"value": {"get_attr": ["rand", "value"]}, "action_wait_secs": {"create": 1, "delete": 0}}}},
   "outputs": {"random": {"description": "the random string", "value": {"get_attr": ["rand", "value"]}},
               "echo": {"value": {"get_attr": ["test", "output"]}}}}}
EOT
)
code=${out##*$'\n'}; out=${out%$'\n'*}
say "POST /stacks -> $code $out"
[[ $code == 201 ]] || exit 1
URL=$(j 'd["stack"]["links"][0]["href"]' <<<"$out")

wait_status() { # WANTED
  local st i
  for i in $(seq 1 150); do
    st=$(curl -sS "${H[@]}" "$URL" | j 'd["stack"]["stack_status"] + " | " + d["stack"]["stack_status_reason"]')
    [[ $st == "$1 "* ]] && { say "$st"; return 0; }
    [[ $st == *FAILED* ]] && { say "unexpected: $st"; return 1; }
    sleep 0.2
  done
  say "timeout waiting for $1 (last: $st)"; return 1
}
wait_status CREATE_COMPLETE
say "outputs: $(curl -sS "${H[@]}" "$URL" | j '{o["output_key"]: o["output_value"] for o in d["stack"]["outputs"]}')"
for action in suspend resume; do
  r=$(curl -sS -w ' %{http_code}' "${H[@]}" "$URL/actions" -d "{\"$action\": null}")
  say "POST actions {\"$action\": null} -> body+status: $r"
  wait_status "$(tr a-z A-Z <<<"$action")_COMPLETE"
done
say "DELETE -> $(curl -sS -o /dev/null -w '%{http_code}' -X DELETE "${H[@]}" "$URL")"
wait_status DELETE_COMPLETE
say "OK"
