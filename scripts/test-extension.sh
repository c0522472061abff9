#!/usr/bin/env bash
# Builds, lints, unit-tests and packages the VS Code extension (vscode-extension/).
# Needs Node >= 20 with npm; nothing else (no VS Code download, no display).
# Output: vscode-extension/oss-sidecar-<version>.vsix
set -euo pipefail

cd "$(dirname "$0")/../vscode-extension"

node --version
npm --version

# --ignore-scripts: nothing here needs an install script (esbuild's platform binary comes as
# an optional dependency and runs without its postinstall; vsce's optional keytar would try to
# download or compile a native module). Same result with npm 10 (Node 20) and npm 11.
npm ci --ignore-scripts --no-audit --no-fund
npm run build
# The bundle is minified (esbuild --minify in the build script): ~600 KB, 1.26 MB without.
# vsce still calls it "large" because it is most of the package (its rule: one file over 85 % of
# the .vsix's files), which a one-file bundle always is.
bundle_bytes=$(wc -c < out/extension.js)
if [ "$bundle_bytes" -gt 768000 ]; then
  echo "out/extension.js is $bundle_bytes bytes: is esbuild --minify still on?" >&2
  exit 1
fi
npm run lint
npm test
# --no-dependencies: the bundle (out/extension.js) already holds the runtime dependencies.
npx --no-install vsce package --no-dependencies --allow-missing-repository --out "oss-sidecar-$(node -p 'require("./package.json").version').vsix"

vsix="oss-sidecar-$(node -p 'require("./package.json").version').vsix"
test -s "$vsix"
# The package must hold the bundle, the webview assets and the manifest, and no sources.
listing="$(npx --no-install vsce ls --no-dependencies)"
for required in out/extension.js media/ask.js media/ask.css media/icon.png package.json README.md LICENSE; do
  grep -qx "$required" <<<"$listing" || { echo "missing from the .vsix: $required" >&2; exit 1; }
done
if grep -E '^(src/|test/|node_modules/|out/src/|out/test/)' <<<"$listing"; then
  echo "sources or node_modules leaked into the .vsix" >&2
  exit 1
fi
ls -l "$vsix"
