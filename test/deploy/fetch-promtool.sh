#!/usr/bin/env bash
# Builds Prometheus's promtool from its Go module (the Go module proxy) into the user cache, outside
# the repository, for test/deploy/observability.test.ts: `promtool check rules` and `check config` on
# deploy/observability/, and `promtool test rules` on the scenarios of test/deploy/alerts.promtool.yaml.
# Idempotent: prints the path of the binary at once when it is already there. The first build takes
# minutes (Prometheus's dependencies); the test skips, naming this script, while there is no binary.
#
# github.com/prometheus/prometheus v0.316.0 is Prometheus 3.16 (its Go module is versioned v0.3xx).
set -euo pipefail

VERSION="${PROMTOOL_VERSION:-0.316.0}"
VERSION="${VERSION#v}"
MODULE="github.com/prometheus/prometheus"
CACHE_ROOT="${XDG_CACHE_HOME:-${HOME:?set HOME or XDG_CACHE_HOME}/.cache}/tributary"
DEST="$CACHE_ROOT/promtool-$VERSION"
BIN="$DEST/promtool"

if [ -x "$BIN" ]; then
  echo "$BIN"
  exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  echo "error: Go is needed to build promtool ($MODULE v$VERSION) for the alerting-rule tests" >&2
  exit 1
fi

mkdir -p "$CACHE_ROOT"
# a temporary directory beside the destination, so the final move is a rename: never half a binary
tmp="$(mktemp -d "$CACHE_ROOT/.promtool-build.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

echo "building promtool from $MODULE v$VERSION (Go module proxy) into $DEST (first run only)" >&2
start=$SECONDS
nice_cmd=()
if command -v nice >/dev/null 2>&1; then nice_cmd=(nice -n 19); fi
GOWORK=off GOBIN="$tmp" CGO_ENABLED=0 ${nice_cmd[@]+"${nice_cmd[@]}"} go install -trimpath "$MODULE/cmd/promtool@v$VERSION"

if ! "$tmp/promtool" --help >/dev/null 2>&1; then
  echo "error: the built promtool does not run" >&2
  exit 1
fi

mkdir -p "$DEST"
mv -f "$tmp/promtool" "$BIN"
echo "built promtool in $((SECONDS - start)) s" >&2
echo "$BIN"
