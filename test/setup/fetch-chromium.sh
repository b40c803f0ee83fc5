#!/usr/bin/env bash
# Makes sure Debian's `chromium` is installed, for the browser tests of the operators' page
# (test/browser/, driven by playwright-core, which downloads no browser of its own). Idempotent:
# does nothing when chromium is already there. Prints the path of the binary.
#
# It installs with apt (`apt-get update`, then `apt-get install --no-install-recommends chromium`):
# as root on CI, else through sudo when there is one. The browser tests never skip in CI, so a
# machine without apt, or an install that fails, fails here with the reason.
# TRIBUTARY_TEST_CHROMIUM points the tests (and this script) at another binary.
set -euo pipefail

found() {
  if [ -n "${TRIBUTARY_TEST_CHROMIUM:-}" ]; then
    if [ -x "$TRIBUTARY_TEST_CHROMIUM" ]; then echo "$TRIBUTARY_TEST_CHROMIUM"; fi
    return 0
  fi
  if [ -x /usr/bin/chromium ]; then
    echo /usr/bin/chromium
    return
  fi
  command -v chromium 2>/dev/null || true
}

bin="$(found)"
if [ -n "$bin" ]; then
  echo "$bin"
  exit 0
fi
if [ -n "${TRIBUTARY_TEST_CHROMIUM:-}" ]; then
  echo "error: TRIBUTARY_TEST_CHROMIUM=$TRIBUTARY_TEST_CHROMIUM is not an executable file" >&2
  exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "error: chromium is not installed and there is no apt-get to install it: install Chromium (Debian/Ubuntu: apt-get install chromium) or set TRIBUTARY_TEST_CHROMIUM to a Chromium binary" >&2
  exit 1
fi

SUDO=()
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo -n)
  else
    echo "error: installing chromium needs root (apt-get), and this is not root and has no sudo: run \`apt-get install chromium\` as root, or set TRIBUTARY_TEST_CHROMIUM" >&2
    exit 1
  fi
fi

echo "installing Debian's chromium with apt-get (first run only)" >&2
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq >&2 || { echo "error: apt-get update failed (see above)" >&2; exit 1; }
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends chromium >&2 \
  || { echo "error: apt-get install chromium failed (see above)" >&2; exit 1; }

bin="$(found)"
if [ -z "$bin" ]; then
  echo "error: apt-get installed chromium, but no chromium binary is on PATH or at /usr/bin/chromium" >&2
  exit 1
fi
"$bin" --version >&2 || { echo "error: $bin does not run (missing libraries?)" >&2; exit 1; }
echo "$bin"
