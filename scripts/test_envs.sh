#!/usr/bin/env bash
# Build the test-only virtual environments under tests/.envs/ (git-ignored), idempotently.
# Clients written by others are never modelward dependencies: each lives in its own venv that the
# tests drive as a subprocess. tests/.envs/web holds Playwright for Python (the browser is Debian's
# chromium; `playwright install` is never run: its browser download cannot be reached here).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
PLAYWRIGHT_SPEC="playwright>=1.45,<2"

web=tests/.envs/web
stamp="$web/.installed-stamp"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$PLAYWRIGHT_SPEC" ]; then
  test -x "$web/bin/python" || "$PYTHON" -m venv "$web"
  "$web/bin/python" -m pip install --quiet --disable-pip-version-check "$PLAYWRIGHT_SPEC"
  echo "$PLAYWRIGHT_SPEC" > "$stamp"
fi
