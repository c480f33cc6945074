#!/usr/bin/env bash
# java-peer.sh — build (once) and run the Java producer peer in peers/java against a Kafka bootstrap server.
#
# The jar is rebuilt when any file under peers/java/src or peers/java/pom.xml is newer than it.
# Everything after the script name goes to the driver; run with --help for its flags. Stdout carries one JSON
# object; progress and kafka-clients warnings go to stderr.
#
# Environment: JAVA (java executable), KPROD_JAVA_PEER_OPTS (JVM flags, default "-Xms1g -Xmx1g -XX:+UseG1GC"),
# MVN (maven executable, default mvn).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PROJECT="$ROOT/peers/java"
JAR="$PROJECT/target/kprod-java-peer-all.jar"
JAVA="${JAVA:-java}"
MVN="${MVN:-mvn}"
OPTS="${KPROD_JAVA_PEER_OPTS:--Xms1g -Xmx1g -XX:+UseG1GC}"

die() { printf 'java-peer.sh: error: %s\n' "$*" >&2; exit 1; }

needs_build() {
    [[ -f "$JAR" ]] || return 0
    [[ -n "$(find "$PROJECT/src" "$PROJECT/pom.xml" -newer "$JAR" -print -quit)" ]]
}

if [[ "${1:-}" == "--build" ]]; then
    shift
    rm -f "$JAR"
fi
if needs_build; then
    command -v "$MVN" >/dev/null || die "mvn not found (Maven 3.6.3+ builds peers/java)"
    printf 'java-peer.sh: building %s ...\n' "$JAR" >&2
    mkdir -p "$PROJECT/target"
    if ! (cd "$PROJECT" && "$MVN" -q -B package -DskipTests >"$PROJECT/target/build.log" 2>&1); then
        tail -n 40 "$PROJECT/target/build.log" >&2
        die "maven build of peers/java failed (full log: $PROJECT/target/build.log)"
    fi
    [[ -f "$JAR" ]] || die "maven finished but $JAR is missing"
fi
# shellcheck disable=SC2086 # OPTS is a list of JVM flags
exec "$JAVA" $OPTS -jar "$JAR" "$@"
