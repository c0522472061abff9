#!/usr/bin/env bash
# Re-lock the dev and test tools into constraints/dev.txt, then run the whole suite with them.
#   bash scripts/relock.sh                      # keep every pin that still fits pyproject.toml,
#                                               # add pins for new requirements (what a merge needs)
#   bash scripts/relock.sh --upgrade            # every package to its newest release that fits
#   bash scripts/relock.sh --upgrade-package X  # only X (and what it needs) to its newest
#   bash scripts/relock.sh --no-test            # re-lock only
#
# Why uv's `pip compile` and pip's `-c`: scripts/test.sh keeps plain pip (no new tool for a
# contributor); uv resolves the dev extra in seconds, for every platform and Python >= 3.11 at
# once (--universal: one file serves Linux CI and a Mac), and keeps the pins already in the
# file unless told to upgrade, so the same pyproject.toml gives the same file. uv itself is
# pinned and installed into a folder of its own, not into the environment under test.
set -euo pipefail
cd "$(dirname "$0")/.."

UV_VERSION=0.13.10
uv_args=()
run_tests=1
while [ $# -gt 0 ]; do
  case "$1" in
    --upgrade) uv_args+=(--upgrade) ;;
    --upgrade-package) uv_args+=(--upgrade-package "$2"); shift ;;
    --no-test) run_tests=0 ;;
    *) echo "scripts/relock.sh: unknown argument $1 (--upgrade, --upgrade-package NAME, --no-test)" >&2; exit 2 ;;
  esac
  shift
done

uv_dir="${XDG_CACHE_HOME:-$HOME/.cache}/oss-sidecar/uv-$UV_VERSION"
if [ ! -x "$uv_dir/bin/uv" ]; then
  python3 -m pip install -q --disable-pip-version-check --target "$uv_dir" "uv==$UV_VERSION"
fi
# 3.11: the oldest Python the dev extra installs on (schemathesis needs it); the gateway
# itself runs on 3.10 too.
"$uv_dir/bin/uv" pip compile pyproject.toml --extra dev --universal --python-version 3.11 \
  --custom-compile-command "bash scripts/relock.sh" --quiet -o constraints/dev.txt "${uv_args[@]}"
git --no-pager diff --stat -- constraints/dev.txt 2>/dev/null || true

if [ "$run_tests" = 1 ]; then
  bash scripts/test.sh
fi
