#!/usr/bin/env bash
# Runs every test in the solution. Installs what the tests need when it is missing (Debian's redis-server: the test
# fixtures start their own on a free loopback port and stop it afterwards). Prints "N passed, N failed" at the end.
set -euo pipefail
cd "$(dirname "$0")"
command -v dotnet >/dev/null || { echo "test.sh: the .NET 10 SDK (dotnet) is required" >&2; exit 1; }

need=()
[ -x /usr/bin/redis-server ] || need+=(redis-server)
if [ ${#need[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  echo "test.sh: installing ${need[*]} with apt-get"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

dotnet build Neuro.Orleans.sln -c Release -nologo -v q -clp:ErrorsOnly
log=$(mktemp)
set +e
dotnet test Neuro.Orleans.sln -c Release --no-build -nologo --logger "console;verbosity=normal" 2>&1 | tee "$log" \
  | grep -E --line-buffered '^\s*(Passed|Failed|Skipped) |^(Passed|Failed)!|Error Message|failover|^\s+at ' 
status=${PIPESTATUS[0]}
set -e
awk '/^(Passed|Failed)!/ { for (i = 1; i <= NF; i++) { gsub(",", "", $(i+1)); if ($i == "Passed:") p += $(i+1); if ($i == "Failed:") f += $(i+1); if ($i == "Skipped:") s += $(i+1) } }
     END { printf "%d passed, %d failed, %d skipped\n", p, f, s }' "$log"
rm -f "$log"
exit "$status"
