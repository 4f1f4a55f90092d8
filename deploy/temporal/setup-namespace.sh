#!/bin/sh
# One-shot (compose service temporal-setup): the namespace the labs run in, and the search
# attributes every lab workflow carries (LabState, CourseId, LearnerId, LabName, Provider), so
# Temporal UI finds labs by them. Idempotent: it creates only what is missing.
set -eu
ns=${LABS_TEMPORAL_NAMESPACE:-default}
export TEMPORAL_ADDRESS=${TEMPORAL_ADDRESS:-temporal:7233}

tries=0
until temporal operator cluster health >/dev/null 2>&1; do
  tries=$((tries + 1))
  [ "$tries" -lt 60 ] || { echo "Temporal at $TEMPORAL_ADDRESS is not healthy"; exit 1; }
  sleep 2
done

# Closed lab workflows stay visible in Temporal UI this long (the Mongo projection keeps
# deleted labs 30 days too).
temporal operator namespace describe --namespace "$ns" >/dev/null 2>&1 ||
  temporal operator namespace create --namespace "$ns" --retention "${LABS_TEMPORAL_RETENTION:-30d}"

existing=$(temporal operator search-attribute list --namespace "$ns")
for name in LabState CourseId LearnerId LabName Provider; do
  if echo "$existing" | grep -qw "$name"; then
    echo "search attribute $name exists"
  else
    temporal operator search-attribute create --namespace "$ns" --name "$name" --type Keyword --yes
  fi
done
echo "namespace $ns and lab search attributes are ready"
