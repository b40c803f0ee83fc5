#!/usr/bin/env bash
# Builds FerretDB (a MongoDB wire-protocol server; here with its SQLite backend) from its Go module
# into the user cache, outside the repository. Idempotent: does nothing when the binary is already
# there. Prints the path of the binary. test/setup/ferretdb.ts starts it for the test suites.
#
# The module comes from the Go module proxy (`go mod download`); its build/version/version.txt is
# generated from git in FerretDB's own repository, so it is absent from the module and the binary
# panics at start without it: the source is copied to a writable directory and the file written.
# The build is FerretDB's production build (build/ferretdb/production.Dockerfile): no build tags
# (the SQLite backend is in by default, pure Go), CGO off, -trimpath. The `ferretdb_debug` tag of
# its development builds is left out on purpose: debug builds crash on some internal errors and
# log at debug level.
#
# 1.24.2: the newest 1.x (the 2.x line needs PostgreSQL with the DocumentDB extension).
# Keep in sync with FERRETDB_VERSION in test/setup/ferretdb.ts.
set -euo pipefail

VERSION="${FERRETDB_VERSION:-1.24.2}"
VERSION="${VERSION#v}"
MODULE="github.com/FerretDB/FerretDB"
CACHE_ROOT="${XDG_CACHE_HOME:-${HOME:?set HOME or XDG_CACHE_HOME}/.cache}/tributary"
DEST="$CACHE_ROOT/ferretdb-$VERSION"
BIN="$DEST/ferretdb"

if [ -x "$BIN" ]; then
  echo "$BIN"
  exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  echo "error: Go (1.21+; the module asks for 1.24 and Go fetches that toolchain itself) is needed to build FerretDB $VERSION for the MongoDB wire-protocol tests: install Go, or set FERRETDB_URL to a running server" >&2
  exit 1
fi

mkdir -p "$CACHE_ROOT"
# a temporary directory beside the destination, so the final move is a rename: never half a binary
tmp="$(mktemp -d "$CACHE_ROOT/.ferretdb-build.XXXXXX")"
trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT

echo "building FerretDB $VERSION from the Go module proxy into $DEST (first run only)" >&2
start=$SECONDS
info="$(GOFLAGS=-mod=mod GOWORK=off go mod download -json "$MODULE@v$VERSION")"
src="$(printf '%s\n' "$info" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')"
if [ -z "$src" ] || [ ! -f "$src/cmd/ferretdb/main.go" ]; then
  echo "error: go mod download gave no source directory for $MODULE@v$VERSION:" >&2
  printf '%s\n' "$info" >&2
  exit 1
fi

# the module cache is read-only: build in a writable copy
cp -R "$src" "$tmp/src"
chmod -R u+w "$tmp/src"
printf 'v%s\n' "$VERSION" >"$tmp/src/build/version/version.txt"

# low priority: this build often runs beside a test run or another build
nice_cmd=()
if command -v nice >/dev/null 2>&1; then nice_cmd=(nice -n 19); fi
(
  cd "$tmp/src"
  GOWORK=off CGO_ENABLED=0 ${nice_cmd[@]+"${nice_cmd[@]}"} go build -mod=readonly -trimpath -buildvcs=false -o "$tmp/ferretdb" ./cmd/ferretdb
)

reported="$("$tmp/ferretdb" --version 2>&1 || true)"
if ! printf '%s\n' "$reported" | grep -qx "version: v$VERSION"; then
  echo "error: the built binary does not report version v$VERSION:" >&2
  printf '%s\n' "$reported" >&2
  exit 1
fi

mkdir -p "$DEST"
mv -f "$tmp/ferretdb" "$BIN"
echo "built FerretDB $VERSION in $((SECONDS - start)) s" >&2
echo "$BIN"
