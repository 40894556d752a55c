#!/usr/bin/env bash
# Assemble an Apache JMeter distribution from its Maven Central artifacts (the same ones the jmeter-maven-plugin
# assembles a JMeter from) in the official layout, and pack it as apache-jmeter-<version>.tgz + .sha512 under
# .cache/jmeter-mirror/. The lab and CI have no internet: the jmeter role installs from this archive, served to
# the lab hosts (jmeter_archive_url / jmeter_archive_sha512).
#
#   apache-jmeter-5.6.3/bin/ApacheJMeter.jar          launcher (org.apache.jmeter:ApacheJMeter)
#   apache-jmeter-5.6.3/bin/jmeter, jmeter-server     shell launchers (not published as artifacts: written here)
#   apache-jmeter-5.6.3/bin/*.properties, log4j2.xml, report-template/, templates/
#                                                     the bin/ tree shipped inside ApacheJMeter_config.jar
#   apache-jmeter-5.6.3/lib/*.jar                     jorphan + every runtime dependency (versioned names)
#   apache-jmeter-5.6.3/lib/ext/ApacheJMeter_*.jar    the JMeter components (unversioned names, as upstream)
#
# Deterministic (sorted entries, fixed mtime/owner, gzip -n): the same inputs give the same sha512.
# Idempotent: nothing is done when the archive is present and matches its .sha512.
# Usage: scripts/build-jmeter-mirror.sh [--force]   (JMETER_VERSION, JMETER_MIRROR_DIR override the defaults)
set -euo pipefail

version=${JMETER_VERSION:-5.6.3}
root=$(cd "$(dirname "$0")/.." && pwd)
out=${JMETER_MIRROR_DIR:-$root/.cache/jmeter-mirror}
name=apache-jmeter-$version
archive=$out/$name.tgz
# JMeter modules that go into the distribution. ApacheJMeter (launcher) goes to bin/, jorphan to lib/,
# ApacheJMeter_config is unpacked into bin/, the others go to lib/ext/.
modules="ApacheJMeter ApacheJMeter_config jorphan ApacheJMeter_core ApacheJMeter_components ApacheJMeter_functions
ApacheJMeter_http ApacheJMeter_java ApacheJMeter_tcp"

# The archive is rebuilt when this script (its recipe) changes, or when it no longer matches its checksum.
recipe=$(sha256sum "$0" | cut -d' ' -f1)
if [[ "${1:-}" != "--force" && -f "$archive" && -f "$archive.sha512" ]] &&
  [[ "$(cat "$archive.recipe" 2>/dev/null)" == "$recipe" ]] &&
  (cd "$out" && sha512sum --quiet -c "$name.tgz.sha512" >/dev/null 2>&1); then
  echo "jmeter-mirror: $archive is up to date ($(cut -c1-16 "$archive.sha512"))"
  exit 0
fi
command -v mvn >/dev/null || { echo "jmeter-mirror: mvn (Maven) is required" >&2; exit 1; }

work=$(mktemp -d /var/tmp/jmeter-mirror.XXXXXX)
trap 'rm -rf "$work"' EXIT
{
  cat <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>webdemo</groupId>
  <artifactId>jmeter-distribution</artifactId>
  <version>$version</version>
  <packaging>pom</packaging>
  <dependencies>
EOF
  for module in $modules; do
    printf '    <dependency><groupId>org.apache.jmeter</groupId><artifactId>%s</artifactId>' "$module"
    printf '<version>%s</version></dependency>\n' "$version"
  done
  printf '  </dependencies>\n</project>\n'
} >"$work/pom.xml"

dist=$work/$name
# lib/junit: NewDriver warns when it is missing (upstream ships it empty).
mkdir -p "$dist/bin" "$dist/lib/ext" "$dist/lib/junit" "$work/jmeter"
echo "jmeter-mirror: resolving org.apache.jmeter:*:$version and its runtime dependencies (Maven Central)"
mvn_copy() { mvn -B -q -f "$work/pom.xml" dependency:copy-dependencies -DincludeScope=runtime "$@"; }
mvn_copy -DexcludeGroupIds=org.apache.jmeter -DoutputDirectory="$dist/lib" >"$work/mvn.log" 2>&1 ||
  { tail -n 40 "$work/mvn.log" >&2; exit 1; }
mvn_copy -DincludeGroupIds=org.apache.jmeter -Dmdep.stripVersion=true -DoutputDirectory="$work/jmeter" \
  >>"$work/mvn.log" 2>&1 || { tail -n 40 "$work/mvn.log" >&2; exit 1; }

for jar in "$work"/jmeter/*.jar; do
  case $(basename "$jar") in
    ApacheJMeter.jar) mv "$jar" "$dist/bin/" ;;
    ApacheJMeter_config.jar) (cd "$dist" && unzip -q -o "$jar" 'bin/*') ;;
    ApacheJMeter_*.jar) mv "$jar" "$dist/lib/ext/" ;;
    *) mv "$jar" "$dist/lib/" ;;  # jorphan and any other org.apache.jmeter library
  esac
done
for file in ApacheJMeter.jar jmeter.properties saveservice.properties upgrade.properties \
  reportgenerator.properties log4j2.xml; do
  [[ -f "$dist/bin/$file" ]] || { echo "jmeter-mirror: bin/$file missing from the assembled tree" >&2; exit 1; }
done

# The upstream launchers are not published on Maven Central; these keep their interface (HEAP, JVM_ARGS,
# bin/setenv.sh) so the jmeter role can set the heap the same way for either archive.
cat >"$dist/bin/jmeter" <<'EOF'
#!/bin/sh
# Apache JMeter launcher (webdemo mirror build). Environment: JAVA_HOME, HEAP, GC_ALGO, JVM_ARGS, JMETER_OPTS;
# bin/setenv.sh is sourced first when present (as the upstream script does).
# Resolve symlinks (the role links it as /usr/local/bin/jmeter), as the upstream script does.
JMETER_HOME=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
[ -f "$JMETER_HOME/bin/setenv.sh" ] && . "$JMETER_HOME/bin/setenv.sh"
: "${HEAP:=-Xms1g -Xmx1g -XX:MaxMetaspaceSize=256m}"
: "${GC_ALGO:=-XX:+UseG1GC -XX:MaxGCPauseMillis=100 -XX:G1ReservePercent=20}"
JAVA=java
[ -n "$JAVA_HOME" ] && JAVA=$JAVA_HOME/bin/java
# shellcheck disable=SC2086
exec "$JAVA" $HEAP $GC_ALGO -Djava.security.egd=file:/dev/urandom -Duser.language=en -Duser.region=EN \
  $JMETER_OPTS $JVM_ARGS -jar "$JMETER_HOME/bin/ApacheJMeter.jar" "$@"
EOF
cat >"$dist/bin/jmeter-server" <<'EOF'
#!/bin/sh
# Start a JMeter remote (RMI) server, as the upstream jmeter-server script does.
exec "$(dirname "$(readlink -f "$0")")/jmeter" -s -j jmeter-server.log "$@"
EOF
chmod 0755 "$dist/bin/jmeter" "$dist/bin/jmeter-server"
printf 'Apache JMeter %s assembled from Maven Central artifacts by webdemo scripts/build-jmeter-mirror.sh\n' \
  "$version" >"$dist/README.webdemo"

mkdir -p "$out"
tar -C "$work" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --mode='u+rwX,go+rX,go-w' \
  -cf - "$name" | gzip -9 -n >"$work/$name.tgz"
mv "$work/$name.tgz" "$archive"
(cd "$out" && sha512sum "$name.tgz" >"$name.tgz.sha512")
echo "$recipe" >"$archive.recipe"
echo "jmeter-mirror: built $archive ($(du -h "$archive" | cut -f1), sha512 $(cut -c1-16 "$archive.sha512")…)"
