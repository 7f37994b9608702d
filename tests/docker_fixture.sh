#!/usr/bin/env bash
# ctest fixture: starts (or stops) the private Docker engine for the Docker tests and writes
# its status where they read it: "ok unix://..." or "unavailable: why".
# In CI (CI=true) an engine that cannot start fails the fixture, so the Docker tests fail;
# elsewhere they skip with the reason.
set -uo pipefail
action=$1 dir=$2 source=$3
mkdir -p "$dir"
if [[ $action == stop ]]; then
  "$source/scripts/docker-engine" stop "$dir"
  exit 0
fi
if address=$("$source/scripts/docker-engine" start "$dir" 2>"$dir/start.err"); then
  echo "ok $address" >"$dir/status"
  exit 0
fi
echo "unavailable: the private Docker engine did not start: $(tail -3 "$dir/start.err" | tr '\n' ' ')" >"$dir/status"
cat "$dir/status" >&2
[[ ${CI:-} == true ]] && exit 1
exit 0
