#!/usr/bin/env bash
# Fetches Apicurio Registry (the Quarkus app, in-memory H2 storage, with its Confluent-compatible API
# at /apis/ccompat/v7) from Maven Central into the user cache, outside the repository. Idempotent:
# does nothing when it is already there. Prints the directory that holds the runner jar.
#
# 3.0.9 because it runs on Java 17 (the machine's JDK); 3.1 and later need Java 21.
set -euo pipefail

VERSION="${APICURIO_VERSION:-3.0.9}"
CACHE_ROOT="${XDG_CACHE_HOME:-${HOME:?set HOME or XDG_CACHE_HOME}/.cache}/tributary"
DEST="$CACHE_ROOT/apicurio-registry-$VERSION"
JAR="$DEST/apicurio-registry-app-$VERSION-runner.jar"

if [ -f "$JAR" ]; then
  echo "$DEST"
  exit 0
fi

for tool in java mvn tar; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "error: $tool is needed to fetch and run Apicurio Registry for the Schema Registry tests (Java 17+ and Maven)" >&2
    exit 1
  fi
done

mkdir -p "$CACHE_ROOT"
# a temporary directory beside the destination, so the final move is a rename: never half a directory
tmp="$(mktemp -d "$CACHE_ROOT/.apicurio-fetch.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
echo "fetching io.apicurio:apicurio-registry-app:$VERSION (all.tar.gz, ~110 MB) with Maven" >&2
mvn -q -B dependency:copy \
  -Dartifact="io.apicurio:apicurio-registry-app:$VERSION:tar.gz:all" \
  -DoutputDirectory="$tmp/download" >&2
mkdir -p "$tmp/app"
tar -xzf "$tmp/download/apicurio-registry-app-$VERSION-all.tar.gz" -C "$tmp/app"
if [ ! -f "$tmp/app/apicurio-registry-app-$VERSION-runner.jar" ]; then
  echo "error: the archive has no apicurio-registry-app-$VERSION-runner.jar" >&2
  exit 1
fi
rm -rf "$DEST"
mv "$tmp/app" "$DEST"
echo "$DEST"
