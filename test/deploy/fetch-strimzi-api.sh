#!/usr/bin/env bash
# Fetches Strimzi's API model (io.strimzi:api, the Java classes Strimzi generates its CRDs from, and
# their dependencies: Jackson, the fabric8 Kubernetes model) from Maven Central into the user cache,
# outside the repository, for test/deploy/kubernetes.test.ts (test/deploy/strimzi-model-check.java
# reads deploy/strimzi/ into those classes). Idempotent: prints the directory of the jars at once
# when it is already there.
#
# Strimzi publishes its CRD YAMLs only in its GitHub releases and Helm chart, neither of which a
# package registry serves; io.strimzi:api is the model they are generated from.
set -euo pipefail

VERSION="${STRIMZI_API_VERSION:-0.49.1}"
CACHE_ROOT="${XDG_CACHE_HOME:-${HOME:?set HOME or XDG_CACHE_HOME}/.cache}/tributary"
DEST="$CACHE_ROOT/strimzi-api-$VERSION"

if [ -f "$DEST/lib/api-$VERSION.jar" ]; then
  echo "$DEST/lib"
  exit 0
fi

for tool in java mvn; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "error: $tool is needed to fetch Strimzi's API model for the Kubernetes manifest tests (Java 17+ and Maven)" >&2
    exit 1
  fi
done

mkdir -p "$CACHE_ROOT"
# a temporary directory beside the destination, so the final move is a rename: never half a directory
tmp="$(mktemp -d "$CACHE_ROOT/.strimzi-api-fetch.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>tributary.test</groupId>
  <artifactId>strimzi-api-model</artifactId>
  <version>0</version>
  <dependencies>
    <dependency>
      <groupId>io.strimzi</groupId>
      <artifactId>api</artifactId>
      <version>$VERSION</version>
    </dependency>
  </dependencies>
</project>
POM
echo "fetching io.strimzi:api:$VERSION and its dependencies (~18 MB) with Maven" >&2
mvn -q -B -f "$tmp/pom.xml" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp/out/lib" >&2
if [ ! -f "$tmp/out/lib/api-$VERSION.jar" ]; then
  echo "error: Maven did not deliver io.strimzi:api:$VERSION" >&2
  exit 1
fi
rm -rf "$DEST"
mv "$tmp/out" "$DEST"
echo "$DEST/lib"
