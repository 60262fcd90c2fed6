#!/usr/bin/env bash
# Starts the single-node dev cluster on this machine: one silo (localhost clustering, in-memory storage and reminders)
# with the front door (REST :5080, gRPC :5081) and the Orleans Dashboard. Authentication is switched off explicitly
# here (development only); without that the silo requires JWTs (Neuro:Auth:SigningKey or Neuro:Auth:Authority).
# Extra arguments go to the silo, e.g. ./run.sh --Neuro:Cluster=redis --Neuro:Redis=127.0.0.1:6379
set -euo pipefail
cd "$(dirname "$0")"
command -v dotnet >/dev/null || { echo "run.sh: the .NET 10 SDK (dotnet) is required" >&2; exit 1; }
dotnet build silo/Neuro.Silo/Neuro.Silo.csproj -c Release -nologo -v q -clp:ErrorsOnly
exec dotnet silo/Neuro.Silo/bin/Release/net10.0/Neuro.Silo.dll --Neuro:Auth:Mode=off --Neuro:Telemetry:LogFormat=text "$@"
