#!/usr/bin/env bash
# Installs schemathesis (property-based testing of an API against its OpenAPI document) from PyPI
# into a Python virtual environment in the user cache, outside the repository. Idempotent: does
# nothing when the pinned version is already installed there. Prints the path of the `st` binary.
# test/api/openapi-schemathesis.test.ts runs it against the API's /docs/json.
#
# 4.32.5: the newest release when this was written; it needs Python 3.10+.
# Keep in sync with SCHEMATHESIS_VERSION in test/api/openapi-schemathesis.test.ts.
set -euo pipefail

VERSION="${SCHEMATHESIS_VERSION:-4.32.5}"
CACHE_ROOT="${XDG_CACHE_HOME:-${HOME:?set HOME or XDG_CACHE_HOME}/.cache}/tributary"
DEST="$CACHE_ROOT/schemathesis-$VERSION"
BIN="$DEST/bin/st"
# written last, once the installed version has been checked: a half-built environment has none
DONE="$DEST/.tributary-complete"

if [ -x "$BIN" ] && [ "$(cat "$DONE" 2>/dev/null)" = "$VERSION" ]; then
  echo "$BIN"
  exit 0
fi

PYTHON="${PYTHON:-python3}"
if ! command -v "$PYTHON" >/dev/null 2>&1 \
  || ! "$PYTHON" -c 'import sys, venv, ensurepip; sys.exit(0 if sys.version_info >= (3, 10) else 1)' 2>/dev/null; then
  echo "error: Python 3.10+ with venv and ensurepip (Debian: python3-venv) is needed to install schemathesis $VERSION for the OpenAPI tests" >&2
  exit 1
fi

# a virtual environment records its absolute path in its scripts, so it is built in place (not
# renamed from a temporary directory); the marker above tells a finished one from a broken one
echo "installing schemathesis $VERSION from PyPI into $DEST (first run only)" >&2
rm -rf "$DEST"
mkdir -p "$CACHE_ROOT"
fail() {
  rm -rf "$DEST"
  echo "error: $*" >&2
  exit 1
}
"$PYTHON" -m venv "$DEST" >&2 || fail "$PYTHON -m venv $DEST failed"
"$DEST/bin/python" -m pip install --quiet --disable-pip-version-check --no-input "schemathesis==$VERSION" >&2 \
  || fail "pip could not install schemathesis==$VERSION from PyPI"
reported="$("$DEST/bin/python" -c 'import importlib.metadata as m; print(m.version("schemathesis"))' 2>/dev/null || true)"
if [ "$reported" != "$VERSION" ] || [ ! -x "$BIN" ]; then
  fail "the environment in $DEST does not hold schemathesis $VERSION (found: ${reported:-nothing})"
fi
printf '%s\n' "$VERSION" >"$DONE"
echo "$BIN"
