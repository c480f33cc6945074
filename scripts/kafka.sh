#!/usr/bin/env bash
# kafka.sh — run a real Apache Kafka 4.x (KRaft) cluster on loopback, with jars from Maven Central only.
#
# Why this shape: the machines this project runs on reach Maven Central but not kafka.apache.org and have
# no Docker, so the broker is assembled from its Maven artifacts (kafka_2.13 + kafka-tools + a log4j2
# slf4j binding) into a cached lib/ directory and started with `java -cp 'lib/*' kafka.Kafka`.
# Every node is a combined broker+controller; an N-node cluster has a static N-voter quorum and
# replication-factor defaults (default.replication.factor, internal topics) of min(N, 3).
#
# Run `scripts/kafka.sh --help` for the commands and environment variables.
set -euo pipefail

# ---- pinned versions ---------------------------------------------------------------------------------
# Kafka 4.3.1: the newest 4.x patch release whose artifacts Maven Central serves in full here.
KAFKA_VERSION="${KPROD_KAFKA_VERSION:-4.3.1}"
# log4j2 backend: kafka 4.x logs through slf4j-api 1.7.x, so the binding is log4j-slf4j-impl (not ...slf4j2...).
LOG4J_VERSION="${KPROD_LOG4J_VERSION:-2.25.4}"
DEPENDENCY_PLUGIN="org.apache.maven.plugins:maven-dependency-plugin:3.8.1"

# ---- locations and ports -----------------------------------------------------------------------------
CACHE_ROOT="${KPROD_CACHE:-$HOME/.cache/kprod}"
DIST="$CACHE_ROOT/kafka-$KAFKA_VERSION"
LIB="$DIST/lib"
RUN="${KPROD_KAFKA_RUN:-$CACHE_ROOT/kafka-run}"
PORT_BASE="${KPROD_KAFKA_PORT:-9092}"
CONTROLLER_PORT_BASE="${KPROD_KAFKA_CONTROLLER_PORT:-$((PORT_BASE + 10000))}"
READY_TIMEOUT_S="${KPROD_KAFKA_TIMEOUT_S:-120}"
STOP_TIMEOUT_S="${KPROD_KAFKA_STOP_TIMEOUT_S:-60}"
JAVA="${JAVA:-java}"
# 1 GiB per node: three nodes fit easily in 24 GiB and the page cache keeps the rest.
KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms1g -Xmx1g}"
KAFKA_JVM_PERFORMANCE_OPTS="${KAFKA_JVM_PERFORMANCE_OPTS:--server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
-XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true}"
# Command-line tools: start fast on 2 cores (C1 only, serial GC); they run for seconds.
TOOL_JVM_OPTS="${KPROD_KAFKA_TOOL_OPTS:--Xmx512m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true}"

# ---- security (up --security) ----------------------------------------------------------------------------
# Extra listeners of broker i, at fixed offsets from its PLAINTEXT port (PLAINTEXT stays the inter-broker
# listener, so tests can read back through it what went in through the secured ones):
#   SSL +100, SASL_SSL +200, SASL_PLAINTEXT +300, SSL_WRONG_HOST (certificate for another name) +400,
#   MTLS (SSL requiring a client certificate) +500.
SECURITY_LISTENERS=(SSL SASL_SSL SASL_PLAINTEXT SSL_WRONG_HOST MTLS)
SASL_MECHANISMS="PLAIN,SCRAM-SHA-256,SCRAM-SHA-512"
SASL_USERNAME="${KPROD_KAFKA_SASL_USERNAME:-alice}"
SASL_PASSWORD="${KPROD_KAFKA_SASL_PASSWORD:-alice-secret}"
# Protects only throwaway keystores generated at `up`; nothing secret.
STORE_PASSWORD="kprod-store-pass"
SECURITY=0

# ---- Java main classes (Kafka 4.x) ---------------------------------------------------------------------
MAIN_BROKER="kafka.Kafka"
MAIN_STORAGE="kafka.tools.StorageTool"
MAIN_TOPICS="org.apache.kafka.tools.TopicCommand"
MAIN_CONSOLE_PRODUCER="org.apache.kafka.tools.ConsoleProducer"
MAIN_CONSOLE_CONSUMER="org.apache.kafka.tools.consumer.ConsoleConsumer"
MAIN_API_VERSIONS="org.apache.kafka.tools.BrokerApiVersionsCommand"
MAIN_PERF_TEST="org.apache.kafka.tools.ProducerPerformance"
MAIN_QUORUM="org.apache.kafka.tools.MetadataQuorumCommand"
MAIN_REASSIGN="org.apache.kafka.tools.reassign.ReassignPartitionsCommand"
MAIN_ELECT_LEADERS="org.apache.kafka.tools.LeaderElectionCommand"

usage() {
    cat <<EOF
Usage: scripts/kafka.sh COMMAND [ARGS...]

Runs Apache Kafka $KAFKA_VERSION (KRaft, combined broker+controller nodes) on 127.0.0.1, built from
Maven Central artifacts cached in $DIST.

Cluster commands:
  up [--brokers N] [--security]
                          fetch jars if needed, format storage, start N nodes (1..5; default 1) and wait
                          until every broker answers ApiVersions. Broker i listens on PLAINTEXT
                          127.0.0.1:\$((PORT+i-1)), its controller on 127.0.0.1:\$((CONTROLLER_PORT+i-1)).
                          Replication factor defaults are min(N,3); use --brokers 3 for a quorum of 3.
                          --security adds, per broker, listeners at PLAINTEXT port + 100 SSL, + 200 SASL_SSL,
                          + 300 SASL_PLAINTEXT (SASL: $SASL_MECHANISMS, user $SASL_USERNAME),
                          + 400 SSL with a certificate for another host name, + 500 SSL requiring a client
                          certificate. A CA, the broker/client certificates and an unrelated second CA are
                          generated with openssl into \$KPROD_KAFKA_RUN/security, with Java client
                          .properties files for each listener; \`env --security\` prints where.
  down                    stop every node this script started, then delete their data directories.
  status                  print what runs where (exit 0 if every node runs, 1 otherwise).
  restart-broker N        stop node N (1-based) and start it again on its existing data; wait until ready.
  logs [N] [LINES]        print the tail of node N's server.log (default node 1, 50 lines).
  bootstrap               print the bootstrap servers of the running cluster.
  env [--security]        print KEY=VALUE lines for tests: KPROD_KAFKA_PLAINTEXT_BOOTSTRAP and, for a cluster
                          started with --security, every secured listener's bootstrap list, the CA PEM files,
                          the client certificate/key, the SASL user and password, and KPROD_KAFKA_SECURITY_DIR
                          with the Java client files client-ssl, client-mtls, client-sasl-{ssl,plaintext}-
                          {plain,scram-sha-256,scram-sha-512}.properties.
                          --security fails unless the cluster was started with --security.
  smoke                   create a topic, produce 5 keyed records and consume them back with the Java
                          console tools; fails unless the same records come back.
  smoke --security        with the Java tools: one record through every secured listener and mechanism, read
                          back through PLAINTEXT; a wrong password (each mechanism), an unrelated CA, a
                          certificate for another host and a missing client certificate must each be refused.
  fetch                   only download the jars into the cache (idempotent).

Tool passthroughs (run the Java tools' main classes with the cached classpath; --bootstrap-server of the
running cluster is added when no argument mentions "bootstrap"):
  topics ARGS...            $MAIN_TOPICS          (kafka-topics)
  console-producer ARGS...  $MAIN_CONSOLE_PRODUCER       (kafka-console-producer)
  console-consumer ARGS...  $MAIN_CONSOLE_CONSUMER (kafka-console-consumer)
  api-versions ARGS...      $MAIN_API_VERSIONS (kafka-broker-api-versions)
  perf-test ARGS...         $MAIN_PERF_TEST   (kafka-producer-perf-test)
  quorum ARGS...            $MAIN_QUORUM  (kafka-metadata-quorum)
  reassign ARGS...          $MAIN_REASSIGN (kafka-reassign-partitions)
  elect-leaders ARGS...     $MAIN_ELECT_LEADERS (kafka-leader-election)
  java-class CLASS ARGS...  any main class on the Kafka classpath

Environment:
  KPROD_CACHE                  cache root (default \$HOME/.cache/kprod); jars in kafka-<version>/lib
  KPROD_KAFKA_RUN              run directory: configs, data, logs, pid files (default \$KPROD_CACHE/kafka-run)
  KPROD_KAFKA_VERSION          Kafka version to fetch (default 4.3.1)
  KPROD_KAFKA_PORT             first broker port (default 9092)
  KPROD_KAFKA_CONTROLLER_PORT  first controller port (default broker port + 10000)
  KPROD_KAFKA_PARTITIONS       num.partitions for auto-created topics (default 1)
  KPROD_KAFKA_TIMEOUT_S        readiness timeout in seconds (default 120)
  KPROD_KAFKA_SASL_USERNAME    SASL user created by up --security (default alice)
  KPROD_KAFKA_SASL_PASSWORD    its password (default alice-secret)
  KAFKA_HEAP_OPTS              broker heap (default "-Xms1g -Xmx1g")
  KAFKA_JVM_PERFORMANCE_OPTS   broker GC/JIT flags (default: G1, as Kafka's own scripts)
  KPROD_KAFKA_TOOL_OPTS        JVM flags for the short-lived tools
  KPROD_KAFKA_PERF_OPTS        JVM flags for perf-test (default "-Xms1g -Xmx1g -XX:+UseG1GC")
  JAVA                         java executable (default: java on PATH; Java 17+ required)
EOF
}

log() { printf 'kafka.sh: %s\n' "$*" >&2; }
die() { printf 'kafka.sh: error: %s\n' "$*" >&2; exit 1; }

# ---- jars from Maven Central -----------------------------------------------------------------------------

write_pom() {
    cat >"$DIST/pom.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<!-- Generated by kprod scripts/kafka.sh: the runtime classpath of an Apache Kafka $KAFKA_VERSION broker. -->
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>kprod.local</groupId>
  <artifactId>kafka-dist</artifactId>
  <version>$KAFKA_VERSION</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-api</artifactId><version>$LOG4J_VERSION</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>$LOG4J_VERSION</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>$LOG4J_VERSION</version></dependency>
  </dependencies>
</project>
EOF
}

write_tools_log4j() {
    # Tools log warnings to stderr only, so their stdout stays machine-readable.
    cat >"$DIST/tools-log4j2.properties" <<'EOF'
status = warn
appender.err.type = Console
appender.err.name = STDERR
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.err.ref = STDERR
EOF
}

fetch_jars() {
    if [[ -f "$DIST/.complete" && -d "$LIB" ]]; then
        return 0
    fi
    command -v mvn >/dev/null || die "mvn not found on PATH (Maven 3.6.3+ is needed to fetch the Kafka jars)"
    mkdir -p "$DIST"
    write_pom
    log "fetching Apache Kafka $KAFKA_VERSION jars from Maven Central into $LIB ..."
    local tmp="$DIST/lib.tmp"
    rm -rf "$tmp"
    if ! mvn -q -B -f "$DIST/pom.xml" "$DEPENDENCY_PLUGIN:copy-dependencies" \
        -DoutputDirectory="$tmp" -DincludeScope=runtime >"$DIST/mvn.log" 2>&1; then
        tail -n 40 "$DIST/mvn.log" >&2
        die "mvn could not fetch Kafka $KAFKA_VERSION (pom: $DIST/pom.xml, full log: $DIST/mvn.log)"
    fi
    [[ -f "$tmp/kafka_2.13-$KAFKA_VERSION.jar" && -f "$tmp/kafka-tools-$KAFKA_VERSION.jar" ]] ||
        die "mvn finished but $tmp lacks kafka_2.13-$KAFKA_VERSION.jar or kafka-tools-$KAFKA_VERSION.jar"
    rm -rf "$LIB"
    mv "$tmp" "$LIB"
    write_tools_log4j
    printf 'version=%s\njars=%s\n' "$KAFKA_VERSION" "$(find "$LIB" -name '*.jar' | wc -l)" >"$DIST/.complete"
    log "fetched $(find "$LIB" -name '*.jar' | wc -l) jars"
}

check_java() {
    command -v "$JAVA" >/dev/null || die "java not found (set JAVA=/path/to/java; Kafka 4.x brokers need Java 17+)"
    local v
    v="$("$JAVA" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')"
    [[ "${v%%.*}" =~ ^[0-9]+$ && "${v%%.*}" -ge 17 ]] ||
        die "Kafka $KAFKA_VERSION brokers need Java 17 or newer; $JAVA reports specification version '${v:-unknown}'"
}

# Runs a short-lived Kafka tool main class with the cached classpath (in this process: exec).
run_tool() {
    fetch_jars
    exec_tool=1 tool "$@"
}

# Runs a Kafka tool main class as a child process (or in place when exec_tool=1).
tool() {
    local main="$1"
    shift
    # shellcheck disable=SC2086 # the option strings are meant to split into words
    if [[ "${exec_tool:-0}" == 1 ]]; then
        exec "$JAVA" $TOOL_JVM_OPTS -Dlog4j2.configurationFile="$DIST/tools-log4j2.properties" \
            -cp "$LIB/*" "$main" "$@"
    fi
    # shellcheck disable=SC2086
    "$JAVA" $TOOL_JVM_OPTS -Dlog4j2.configurationFile="$DIST/tools-log4j2.properties" -cp "$LIB/*" "$main" "$@"
}

# ---- cluster state -----------------------------------------------------------------------------------------

node_dir() { printf '%s/node-%s' "$RUN" "$1"; }
broker_port() { echo $((PORT_BASE + $1 - 1)); }
controller_port() { echo $((CONTROLLER_PORT_BASE + $1 - 1)); }

# Port of secured listener NAME on broker I (see SECURITY_LISTENERS).
listener_port() {
    local off
    case "$1" in
    SSL) off=100 ;; SASL_SSL) off=200 ;; SASL_PLAINTEXT) off=300 ;; SSL_WRONG_HOST) off=400 ;; MTLS) off=500 ;;
    *) die "unknown listener $1" ;;
    esac
    echo $((PORT_BASE + off + $2 - 1))
}
listener_protocol() {
    case "$1" in
    SASL_SSL | SASL_PLAINTEXT) echo "$1" ;;
    *) echo SSL ;;
    esac
}
listener_bootstrap() {
    local name="$1" n="$2" i out=""
    for ((i = 1; i <= n; i++)); do
        out+="${out:+,}127.0.0.1:$(listener_port "$name" "$i")"
    done
    printf '%s' "$out"
}

# Loads cluster.env (written by `up`) so later commands use the ports the cluster was started with.
load_cluster() {
    [[ -f "$RUN/cluster.env" ]] || return 1
    # shellcheck disable=SC1091
    source "$RUN/cluster.env"
    PORT_BASE="$CLUSTER_PORT_BASE"
    CONTROLLER_PORT_BASE="$CLUSTER_CONTROLLER_PORT_BASE"
    SECURITY="${CLUSTER_SECURITY:-0}"
    SASL_USERNAME="${CLUSTER_SASL_USERNAME:-$SASL_USERNAME}"
    SASL_PASSWORD="${CLUSTER_SASL_PASSWORD:-$SASL_PASSWORD}"
    return 0
}

bootstrap_servers() {
    local n="$1" i out=""
    for ((i = 1; i <= n; i++)); do
        out+="${out:+,}127.0.0.1:$(broker_port "$i")"
    done
    printf '%s' "$out"
}

# Prints the pid of node N if it is alive and really is our broker (guards against a recycled pid).
node_pid() {
    local pidfile pid
    pidfile="$(node_dir "$1")/pid"
    [[ -f "$pidfile" ]] || return 1
    pid="$(cat "$pidfile")"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$MAIN_BROKER $(node_dir "$1")/server.properties" ||
        return 1
    printf '%s' "$pid"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

write_server_properties() {
    local i="$1" n="$2" dir voters="" j rf min_isr
    dir="$(node_dir "$i")"
    for ((j = 1; j <= n; j++)); do
        voters+="${voters:+,}$j@127.0.0.1:$(controller_port "$j")"
    done
    rf=$((n >= 3 ? 3 : n))
    min_isr=$((rf >= 3 ? 2 : 1))
    local listeners map="PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT" l
    listeners="PLAINTEXT://127.0.0.1:$(broker_port "$i")"
    if ((SECURITY)); then
        for l in "${SECURITY_LISTENERS[@]}"; do
            listeners+=",$l://127.0.0.1:$(listener_port "$l" "$i")"
            map+=",$l:$(listener_protocol "$l")"
        done
    fi
    cat >"$dir/server.properties" <<EOF
# Generated by kprod scripts/kafka.sh: node $i of a $n-node KRaft cluster (combined broker+controller).
process.roles=broker,controller
node.id=$i
controller.quorum.voters=$voters
listeners=$listeners,CONTROLLER://127.0.0.1:$(controller_port "$i")
advertised.listeners=$listeners
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=$map
log.dirs=$dir/data
num.partitions=${KPROD_KAFKA_PARTITIONS:-1}
auto.create.topics.enable=true
default.replication.factor=$rf
min.insync.replicas=1
offsets.topic.replication.factor=$rf
# 50 partitions (the default) make the first consumer group slow to start on 2 cores.
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$min_isr
share.coordinator.state.topic.replication.factor=$rf
share.coordinator.state.topic.min.isr=$min_isr
group.initial.rebalance.delay.ms=0
# Short-lived test cluster: keep at most 1 GiB per partition on disk.
log.retention.bytes=1073741824
EOF
    if ((SECURITY)); then
        write_security_properties >>"$dir/server.properties"
    fi
    cat >"$dir/log4j2.properties" <<EOF
status = warn
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = $dir/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
EOF
}

# ---- security: certificates, broker settings, client files ---------------------------------------------

SEC_DIR() { printf '%s/security' "$RUN"; }

# Signs a new P-256 key's certificate NAME.pem (key NAME.key) with CA (or self-signs when CA is empty) in the
# security dir. EXT is the openssl extension section to apply (see the config written by gen_certs).
sign_cert() {
    local name="$1" cn="$2" ca="$3" ext="$4" sec
    sec="$(SEC_DIR)"
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$sec/$name.key" 2>/dev/null
    if [[ -z "$ca" ]]; then
        openssl req -new -x509 -config "$sec/openssl.cnf" -extensions "$ext" -key "$sec/$name.key" \
            -subj "/CN=$cn" -days 30 -out "$sec/$name.pem"
    else
        openssl req -new -config "$sec/openssl.cnf" -key "$sec/$name.key" -subj "/CN=$cn" -out "$sec/$name.csr"
        openssl x509 -req -in "$sec/$name.csr" -CA "$sec/$ca.pem" -CAkey "$sec/$ca.key" \
            -set_serial "0x$(openssl rand -hex 16)" -days 30 -extfile "$sec/openssl.cnf" -extensions "$ext" \
            -out "$sec/$name.pem" 2>/dev/null
        rm -f "$sec/$name.csr"
    fi
}

# Generates a fresh CA, the broker certificate (SAN localhost + 127.0.0.1), a certificate of the same CA for
# another host name, a client certificate, and an unrelated second CA; PKCS12 keystores for the broker and the
# Java tools. Nothing here is committed: `up` regenerates all of it.
gen_certs() {
    command -v openssl >/dev/null || die "openssl not found (scripts/setup.sh installs it)"
    local sec
    sec="$(SEC_DIR)"
    mkdir -p "$sec"
    chmod 700 "$sec"
    cat >"$sec/openssl.cnf" <<'EOF'
[req]
distinguished_name = dn
prompt = no
[dn]
[v3_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[v3_server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[v3_wrong_host]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:wrong-host.invalid
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[v3_client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
    sign_cert ca "kprod test CA" "" v3_ca
    sign_cert other-ca "kprod unrelated CA" "" v3_ca
    sign_cert broker localhost ca v3_server
    sign_cert wrong-host wrong-host.invalid ca v3_wrong_host
    sign_cert client "$SASL_USERNAME" ca v3_client
    local name
    for name in broker wrong-host client; do
        openssl pkcs12 -export -in "$sec/$name.pem" -inkey "$sec/$name.key" -certfile "$sec/ca.pem" -name "$name" \
            -passout "pass:$STORE_PASSWORD" -out "$sec/$name.p12"
    done
    # Key + chain in one PEM file, the form librdkafka and rustls-based clients take.
    cat "$sec/client.key" "$sec/client.pem" "$sec/ca.pem" >"$sec/client-keystore.pem"
    rm -f "$sec"/*.srl
}

jaas_module() {
    case "$1" in
    PLAIN) echo org.apache.kafka.common.security.plain.PlainLoginModule ;;
    *) echo org.apache.kafka.common.security.scram.ScramLoginModule ;;
    esac
}

# The broker side of the secured listeners (appended to server.properties).
write_security_properties() {
    local sec l m lower
    sec="$(SEC_DIR)"
    cat <<EOF
# ---- security (scripts/kafka.sh up --security) ----
ssl.keystore.type=PKCS12
ssl.keystore.location=$sec/broker.p12
ssl.keystore.password=$STORE_PASSWORD
ssl.key.password=$STORE_PASSWORD
ssl.client.auth=none
listener.name.ssl_wrong_host.ssl.keystore.location=$sec/wrong-host.p12
listener.name.mtls.ssl.client.auth=required
listener.name.mtls.ssl.truststore.type=PEM
listener.name.mtls.ssl.truststore.location=$sec/ca.pem
sasl.enabled.mechanisms=$SASL_MECHANISMS
EOF
    for l in sasl_ssl sasl_plaintext; do
        # PLAIN users live in the listener's JAAS config; SCRAM users in the metadata log (format --add-scram).
        for m in ${SASL_MECHANISMS//,/ }; do
            lower="$(tr '[:upper:]' '[:lower:]' <<<"$m")"
            if [[ "$m" == PLAIN ]]; then
                printf 'listener.name.%s.%s.sasl.jaas.config=%s required user_%s="%s";\n' \
                    "$l" "$lower" "$(jaas_module "$m")" "$SASL_USERNAME" "$SASL_PASSWORD"
            else
                printf 'listener.name.%s.%s.sasl.jaas.config=%s required;\n' "$l" "$lower" "$(jaas_module "$m")"
            fi
        done
    done
}

# Java client .properties files for each secured listener, and security.env (what `env --security` prints).
write_client_files() {
    local n="$1" sec m lower l f
    sec="$(SEC_DIR)"
    local trust="ssl.truststore.type=PEM
ssl.truststore.location=$sec/ca.pem"
    printf 'security.protocol=SSL\n%s\n' "$trust" >"$sec/client-ssl.properties"
    printf 'security.protocol=SSL\n%s\nssl.keystore.type=PKCS12\nssl.keystore.location=%s\nssl.keystore.password=%s\nssl.key.password=%s\n' \
        "$trust" "$sec/client.p12" "$STORE_PASSWORD" "$STORE_PASSWORD" >"$sec/client-mtls.properties"
    for l in SASL_SSL SASL_PLAINTEXT; do
        for m in ${SASL_MECHANISMS//,/ }; do
            lower="$(tr '[:upper:]_' '[:lower:]-' <<<"$l-$m")"
            f="$sec/client-$lower.properties"
            {
                echo "security.protocol=$l"
                [[ "$l" == SASL_SSL ]] && echo "$trust"
                echo "sasl.mechanism=$m"
                printf 'sasl.jaas.config=%s required username="%s" password="%s";\n' "$(jaas_module "$m")" \
                    "$SASL_USERNAME" "$SASL_PASSWORD"
            } >"$f"
        done
    done
    {
        for l in "${SECURITY_LISTENERS[@]}"; do
            echo "KPROD_KAFKA_${l}_BOOTSTRAP=$(listener_bootstrap "$l" "$n")"
        done
        echo "KPROD_KAFKA_CA_PEM=$sec/ca.pem"
        echo "KPROD_KAFKA_OTHER_CA_PEM=$sec/other-ca.pem"
        echo "KPROD_KAFKA_CLIENT_CERT_PEM=$sec/client.pem"
        echo "KPROD_KAFKA_CLIENT_KEY_PEM=$sec/client.key"
        echo "KPROD_KAFKA_CLIENT_KEYSTORE_PEM=$sec/client-keystore.pem"
        echo "KPROD_KAFKA_SASL_MECHANISMS=$SASL_MECHANISMS"
        echo "KPROD_KAFKA_SASL_USERNAME=$SASL_USERNAME"
        echo "KPROD_KAFKA_SASL_PASSWORD=$SASL_PASSWORD"
        echo "KPROD_KAFKA_SECURITY_DIR=$sec"
    } >"$RUN/security.env"
}

format_node() {
    local i="$1" dir scram=() m
    dir="$(node_dir "$i")"
    if ((SECURITY)); then
        # SCRAM credentials go into the bootstrap metadata, so they exist before any client connects.
        for m in ${SASL_MECHANISMS//,/ }; do
            [[ "$m" == SCRAM-* ]] && scram+=(--add-scram "$m=[name=$SASL_USERNAME,password=$SASL_PASSWORD]")
        done
    fi
    # shellcheck disable=SC2086
    if ! "$JAVA" $TOOL_JVM_OPTS -Dlog4j2.configurationFile="$DIST/tools-log4j2.properties" -cp "$LIB/*" \
        "$MAIN_STORAGE" format -t "$CLUSTER_ID" -c "$dir/server.properties" "${scram[@]}" >"$dir/format.log" 2>&1; then
        cat "$dir/format.log" >&2
        die "formatting storage of node $i failed (log: $dir/format.log)"
    fi
}

start_node() {
    local i="$1" dir
    dir="$(node_dir "$i")"
    : >"$dir/stdout.log"
    # setsid+nohup: the broker outlives this shell and a Ctrl-C aimed at the caller; `down` stops it.
    # shellcheck disable=SC2086
    setsid nohup "$JAVA" $KAFKA_HEAP_OPTS $KAFKA_JVM_PERFORMANCE_OPTS \
        -Dlog4j2.configurationFile="$dir/log4j2.properties" -Dkafka.logs.dir="$dir" \
        -cp "$LIB/*" "$MAIN_BROKER" "$dir/server.properties" </dev/null >>"$dir/stdout.log" 2>&1 9>&- &
    echo $! >"$dir/pid"
}

stop_node() {
    local i="$1" pid waited=0
    pid="$(node_pid "$i")" || { rm -f "$(node_dir "$i")/pid"; return 0; }
    kill -TERM "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do
        if ((waited >= STOP_TIMEOUT_S * 10)); then
            log "node $i (pid $pid) did not stop within ${STOP_TIMEOUT_S}s; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            sleep 0.5
            break
        fi
        sleep 0.1
        waited=$((waited + 1))
    done
    rm -f "$(node_dir "$i")/pid"
}

show_log_tail() {
    local i="$1" dir
    dir="$(node_dir "$i")"
    {
        echo "---- node $i: last lines of $dir/server.log ----"
        tail -n 30 "$dir/server.log" 2>/dev/null || echo "(no server.log)"
        echo "---- node $i: last lines of $dir/stdout.log ----"
        tail -n 15 "$dir/stdout.log" 2>/dev/null || true
    } >&2
}

# Waits until every node in 1..n runs, listens, and answers ApiVersions as an unfenced broker.
wait_ready() {
    local n="$1" deadline i out ok
    deadline=$((SECONDS + READY_TIMEOUT_S))
    while true; do
        ok=1
        for ((i = 1; i <= n; i++)); do
            if ! node_pid "$i" >/dev/null; then
                show_log_tail "$i"
                die "node $i exited during startup (see above; logs in $(node_dir "$i"))"
            fi
            port_open "$(broker_port "$i")" || ok=0
        done
        if ((ok)); then
            # The real check: every broker is in the metadata and answers ApiVersions.
            # shellcheck disable=SC2086
            out="$(timeout 60 "$JAVA" $TOOL_JVM_OPTS -Dlog4j2.configurationFile="$DIST/tools-log4j2.properties" \
                -cp "$LIB/*" "$MAIN_API_VERSIONS" --bootstrap-server "$(bootstrap_servers "$n")" 2>/dev/null)" ||
                true
            for ((i = 1; i <= n; i++)); do
                grep "(id: $i rack: [^)]*) -> ($" <<<"$out" | grep -vq "isFenced: true" || ok=0
            done
            ((ok)) && return 0
        fi
        if ((SECONDS >= deadline)); then
            for ((i = 1; i <= n; i++)); do show_log_tail "$i"; done
            die "cluster not ready after ${READY_TIMEOUT_S}s (raise KPROD_KAFKA_TIMEOUT_S; logs in $RUN)"
        fi
        sleep 1
    done
}

any_running() {
    local i
    load_cluster || return 1
    for ((i = 1; i <= CLUSTER_BROKERS; i++)); do
        node_pid "$i" >/dev/null && return 0
    done
    return 1
}

# ---- commands ------------------------------------------------------------------------------------------

cmd_up() {
    local n=1 i port t0=$SECONDS security=0 l
    while (($#)); do
        case "$1" in
        --brokers) n="${2:-}"; shift 2 || die "--brokers needs a value" ;;
        --brokers=*) n="${1#--brokers=}"; shift ;;
        --security) security=1; shift ;;
        -h | --help) usage; exit 0 ;;
        *) die "up: unknown argument '$1' (expected --brokers N, --security)" ;;
        esac
    done
    [[ "$n" =~ ^[1-5]$ ]] || die "up: --brokers must be 1..5 (got '$n')"
    if any_running; then
        if [[ "$CLUSTER_BROKERS" == "$n" && "$SECURITY" == "$security" ]]; then
            log "a $n-node cluster is already running; reusing it"
            cmd_status
            return 0
        fi
        die "a $CLUSTER_BROKERS-node cluster$( ((SECURITY)) && echo ' with --security') is running; run 'scripts/kafka.sh down' first"
    fi
    SECURITY=$security
    check_java
    fetch_jars
    for ((i = 1; i <= n; i++)); do
        for port in "$(broker_port "$i")" "$(controller_port "$i")"; do
            port_open "$port" && die "port 127.0.0.1:$port is already in use (set KPROD_KAFKA_PORT / KPROD_KAFKA_CONTROLLER_PORT)"
        done
        if ((SECURITY)); then
            for l in "${SECURITY_LISTENERS[@]}"; do
                port="$(listener_port "$l" "$i")"
                port_open "$port" && die "port 127.0.0.1:$port ($l listener) is already in use (set KPROD_KAFKA_PORT)"
            done
        fi
    done
    if ((SECURITY)); then
        [[ "$SASL_USERNAME" =~ ^[A-Za-z0-9._-]+$ && "$SASL_PASSWORD" =~ ^[A-Za-z0-9._-]+$ ]] ||
            die "KPROD_KAFKA_SASL_USERNAME/PASSWORD may only use letters, digits, '.', '_' and '-'"
    fi
    rm -rf "$RUN"
    mkdir -p "$RUN"
    # A Kafka Uuid is 16 random bytes in URL-safe base64 without padding (22 characters).
    # Base64url without '-': an id starting with '-' is taken for an option by kafka-storage's argument parser
    # (that failed 1 run in 64). '+' becomes 'A', a valid character that keeps the 22-character length.
    CLUSTER_ID="$(head -c 16 /dev/urandom | base64 | tr '+/' 'A_' | tr -d '=')"
    cat >"$RUN/cluster.env" <<EOF
CLUSTER_BROKERS=$n
CLUSTER_ID=$CLUSTER_ID
CLUSTER_VERSION=$KAFKA_VERSION
CLUSTER_PORT_BASE=$PORT_BASE
CLUSTER_CONTROLLER_PORT_BASE=$CONTROLLER_PORT_BASE
CLUSTER_SECURITY=$SECURITY
CLUSTER_SASL_USERNAME=$SASL_USERNAME
CLUSTER_SASL_PASSWORD=$SASL_PASSWORD
EOF
    if ((SECURITY)); then
        log "generating certificates into $(SEC_DIR) ..."
        gen_certs
        write_client_files "$n"
    fi
    for ((i = 1; i <= n; i++)); do
        mkdir -p "$(node_dir "$i")/data"
        write_server_properties "$i" "$n"
    done
    log "formatting storage (cluster id $CLUSTER_ID) ..."
    local pids=()
    for ((i = 1; i <= n; i++)); do
        format_node "$i" &
        pids+=($!)
    done
    for i in "${pids[@]}"; do wait "$i" || die "formatting failed"; done
    for ((i = 1; i <= n; i++)); do start_node "$i"; done
    log "started $n node(s); waiting up to ${READY_TIMEOUT_S}s for readiness ..."
    wait_ready "$n"
    log "ready in $((SECONDS - t0))s: bootstrap $(bootstrap_servers "$n")"
    cmd_status
}

cmd_down() {
    local i
    if ! load_cluster; then
        log "no cluster state in $RUN; nothing to stop"
        return 0
    fi
    for ((i = 1; i <= CLUSTER_BROKERS; i++)); do
        # Stop nodes in parallel: the last voters otherwise wait for a quorum that is gone.
        stop_node "$i" &
    done
    wait
    for ((i = 1; i <= CLUSTER_BROKERS; i++)); do
        rm -rf "$(node_dir "$i")/data"
    done
    # The certificates stay until the next `up` replaces them; security.env goes, so tests cannot find a dead broker.
    rm -f "$RUN/cluster.env" "$RUN/security.env"
    log "stopped $CLUSTER_BROKERS node(s) and deleted their data (logs kept in $RUN)"
}

cmd_status() {
    local i pid all=1 l
    if ! load_cluster; then
        echo "no cluster (state dir $RUN)"
        return 1
    fi
    echo "Apache Kafka $CLUSTER_VERSION, $CLUSTER_BROKERS node(s), cluster id $CLUSTER_ID"
    echo "bootstrap: $(bootstrap_servers "$CLUSTER_BROKERS")"
    if ((SECURITY)); then
        echo "security: SASL $SASL_MECHANISMS user $SASL_USERNAME; client CA $(SEC_DIR)/ca.pem;" \
            "Java client configs $(SEC_DIR)/client-*.properties; KEY=VALUE list: scripts/kafka.sh env --security"
    fi
    for ((i = 1; i <= CLUSTER_BROKERS; i++)); do
        if pid="$(node_pid "$i")"; then
            printf 'node %s: running pid %s broker 127.0.0.1:%s controller 127.0.0.1:%s dir %s\n' \
                "$i" "$pid" "$(broker_port "$i")" "$(controller_port "$i")" "$(node_dir "$i")"
            if ((SECURITY)); then
                for l in "${SECURITY_LISTENERS[@]}"; do
                    printf '  %s 127.0.0.1:%s\n' "$l" "$(listener_port "$l" "$i")"
                done
            fi
        else
            all=0
            printf 'node %s: NOT running (broker port %s, dir %s)\n' "$i" "$(broker_port "$i")" "$(node_dir "$i")"
        fi
    done
    ((all))
}

cmd_restart_broker() {
    local i="${1:-}" t0=$SECONDS
    load_cluster || die "restart-broker: no cluster is running"
    if ! [[ "$i" =~ ^[0-9]+$ ]] || ((i < 1 || i > CLUSTER_BROKERS)); then
        die "restart-broker: node must be 1..$CLUSTER_BROKERS (got '$i')"
    fi
    log "stopping node $i ..."
    stop_node "$i"
    log "starting node $i ..."
    start_node "$i"
    wait_ready "$CLUSTER_BROKERS"
    log "node $i restarted and the cluster is ready in $((SECONDS - t0))s"
}

# End-to-end check of the running cluster with the Java tools: create a topic, produce, consume, compare.
cmd_smoke() {
    local bs topic rf expected got
    load_cluster || die "smoke: no cluster is running (run 'scripts/kafka.sh up' first)"
    fetch_jars
    bs="$(bootstrap_servers "$CLUSTER_BROKERS")"
    rf=$((CLUSTER_BROKERS >= 3 ? 3 : CLUSTER_BROKERS))
    topic="kprod-smoke-$$-$RANDOM"
    expected="$(printf 'k%s:v%s\n' 1 1 2 2 3 3 4 4 5 5)"
    tool "$MAIN_TOPICS" --bootstrap-server "$bs" --create --topic "$topic" --partitions 3 \
        --replication-factor "$rf" >/dev/null || die "smoke: creating topic $topic failed"
    printf '%s\n' "$expected" | tool "$MAIN_CONSOLE_PRODUCER" --bootstrap-server "$bs" --topic "$topic" \
        --reader-property parse.key=true --reader-property key.separator=: --command-property acks=all ||
        die "smoke: producing to $topic failed"
    got="$(tool "$MAIN_CONSOLE_CONSUMER" --bootstrap-server "$bs" --topic "$topic" --from-beginning \
        --max-messages 5 --timeout-ms 30000 --formatter-property print.key=true \
        --formatter-property key.separator=: 2>/dev/null | sort)" || true
    tool "$MAIN_TOPICS" --bootstrap-server "$bs" --delete --topic "$topic" >/dev/null 2>&1 || true
    [[ "$got" == "$expected" ]] || die "smoke: consumed records differ from produced ones: got '${got//$'\n'/ }'"
    echo "smoke: ok (5 records through $topic, replication factor $rf, bootstrap $bs)"
}

# KEY=VALUE lines for tests (and `source <(scripts/kafka.sh env)`).
cmd_env() {
    local want_security=0
    case "${1:-}" in
    --security) want_security=1 ;;
    "") ;;
    *) die "env: unknown argument '$1' (expected --security)" ;;
    esac
    load_cluster || die "env: no cluster is running (run 'scripts/kafka.sh up${1:+ $1}' first)"
    echo "KPROD_KAFKA_PLAINTEXT_BOOTSTRAP=$(bootstrap_servers "$CLUSTER_BROKERS")"
    if ((SECURITY)) && [[ -f "$RUN/security.env" ]]; then
        cat "$RUN/security.env"
    elif ((want_security)); then
        die "env --security: the running cluster was started without --security (run 'scripts/kafka.sh down' then 'scripts/kafka.sh up --security')"
    fi
}

# The secured listeners checked with the Java tools: every listener/mechanism delivers, and a wrong password, an
# unrelated CA, a certificate for another host and a missing client certificate are each refused as expected.
cmd_smoke_security() {
    local sec topic plaintext failed=0 c port expected got out neg
    load_cluster || die "smoke --security: no cluster is running (run 'scripts/kafka.sh up --security' first)"
    ((SECURITY)) || die "smoke --security: the running cluster was started without --security"
    fetch_jars
    sec="$(SEC_DIR)"
    plaintext="$(bootstrap_servers "$CLUSTER_BROKERS")"
    topic="kprod-security-smoke-$$-$RANDOM"
    tool "$MAIN_TOPICS" --bootstrap-server "$plaintext" --create --topic "$topic" --partitions 1 >/dev/null ||
        die "smoke --security: creating topic $topic failed"
    # produce NAME LISTENER CONFIG_FILE: one record through LISTENER; prints the producer's stderr.
    produce() {
        # shellcheck disable=SC2069 # on purpose: capture the tool's stderr, drop its stdout
        printf '%s\n' "$1" | tool "$MAIN_CONSOLE_PRODUCER" --bootstrap-server "$(listener_bootstrap "$2" "$CLUSTER_BROKERS")" \
            --topic "$topic" --command-config "$3" --command-property acks=all --command-property max.block.ms=10000 \
            --command-property delivery.timeout.ms=15000 --command-property request.timeout.ms=10000 2>&1 >/dev/null
    }
    expected=""
    for c in ssl:SSL mtls:MTLS sasl-ssl-plain:SASL_SSL sasl-ssl-scram-sha-256:SASL_SSL \
        sasl-ssl-scram-sha-512:SASL_SSL sasl-plaintext-plain:SASL_PLAINTEXT \
        sasl-plaintext-scram-sha-256:SASL_PLAINTEXT sasl-plaintext-scram-sha-512:SASL_PLAINTEXT; do
        out="$(produce "${c%%:*}" "${c#*:}" "$sec/client-${c%%:*}.properties")"
        if grep -qE 'Error when sending|Exception' <<<"$out"; then
            echo "smoke --security: ${c%%:*} via ${c#*:}: FAILED: $(grep -E -m1 'Error when sending|Exception' <<<"$out")"
            failed=1
        else
            echo "smoke --security: ${c%%:*} via ${c#*:}: produced"
            expected+="${c%%:*}"$'\n'
        fi
    done
    got="$(tool "$MAIN_CONSOLE_CONSUMER" --bootstrap-server "$plaintext" --topic "$topic" --from-beginning \
        --max-messages "$(grep -c . <<<"$expected")" --timeout-ms 30000 2>/dev/null | sort)" || true
    if [[ "$got" == "$(sort <<<"$expected" | grep .)" ]]; then
        echo "smoke --security: every produced record read back through PLAINTEXT"
    else
        echo "smoke --security: read back '${got//$'\n'/ }' through PLAINTEXT, expected '${expected//$'\n'/ }'"
        failed=1
    fi
    # Refusals: rewrite a working client config, then expect the Java client's own exception text.
    neg="$sec/negative"
    mkdir -p "$neg"
    sed "s#$sec/ca.pem#$sec/other-ca.pem#" "$sec/client-ssl.properties" >"$neg/other-ca.properties"
    for c in plain scram-sha-256 scram-sha-512; do
        sed "s/password=\"$SASL_PASSWORD\"/password=\"not-$SASL_PASSWORD\"/" "$sec/client-sasl-ssl-$c.properties" \
            >"$neg/wrong-password-$c.properties"
    done
    for c in "wrong password PLAIN|SASL_SSL|$neg/wrong-password-plain.properties|SaslAuthenticationException" \
        "wrong password SCRAM-SHA-256|SASL_SSL|$neg/wrong-password-scram-sha-256.properties|SaslAuthenticationException" \
        "wrong password SCRAM-SHA-512|SASL_SSL|$neg/wrong-password-scram-sha-512.properties|SaslAuthenticationException" \
        "unrelated CA|SSL|$neg/other-ca.properties|PKIX path building failed" \
        "certificate for another host|SSL_WRONG_HOST|$sec/client-ssl.properties|No subject alternative names matching" \
        "no client certificate|MTLS|$sec/client-ssl.properties|SslAuthenticationException"; do
        IFS='|' read -r name port c expected <<<"$c"
        out="$(produce refused "$port" "$c")"
        if grep -qF "$expected" <<<"$out"; then
            echo "smoke --security: $name via $port: refused ($expected)"
        else
            echo "smoke --security: $name via $port: NOT refused as expected ('$expected' not in: $(head -c 300 <<<"$out"))"
            failed=1
        fi
    done
    tool "$MAIN_TOPICS" --bootstrap-server "$plaintext" --delete --topic "$topic" >/dev/null 2>&1 || true
    ((failed == 0)) || die "smoke --security: failed (see above)"
    echo "smoke --security: ok"
}

cmd_logs() {
    local i="${1:-1}" lines="${2:-50}"
    load_cluster || true
    tail -n "$lines" "$(node_dir "$i")/server.log"
}

# Runs a tool, adding the running cluster's --bootstrap-server unless an argument mentions bootstrap.
run_client_tool() {
    local main="$1" a
    shift
    for a in "$@"; do
        [[ "$a" == *bootstrap* || "$a" == -h || "$a" == --help ]] && run_tool "$main" "$@"
    done
    local n=1
    load_cluster && n="$CLUSTER_BROKERS"
    run_tool "$main" --bootstrap-server "$(bootstrap_servers "$n")" "$@"
}

with_lock() {
    mkdir -p "$CACHE_ROOT"
    exec 9>"$CACHE_ROOT/kafka.lock"
    flock -w 300 9 || die "another kafka.sh has held $CACHE_ROOT/kafka.lock for 300s"
}

main() {
    local cmd="${1:-}"
    (($#)) && shift
    case "$cmd" in
    up) with_lock; cmd_up "$@" ;;
    down) with_lock; cmd_down ;;
    status) cmd_status ;;
    restart-broker) with_lock; cmd_restart_broker "$@" ;;
    logs) cmd_logs "$@" ;;
    smoke) if [[ "${1:-}" == --security ]]; then cmd_smoke_security; else cmd_smoke; fi ;;
    env) cmd_env "$@" ;;
    bootstrap) load_cluster || die "no cluster is running"; bootstrap_servers "$CLUSTER_BROKERS"; echo ;;
    fetch) with_lock; fetch_jars; echo "$LIB" ;;
    topics) run_client_tool "$MAIN_TOPICS" "$@" ;;
    console-producer) run_client_tool "$MAIN_CONSOLE_PRODUCER" "$@" ;;
    console-consumer) run_client_tool "$MAIN_CONSOLE_CONSUMER" "$@" ;;
    api-versions) run_client_tool "$MAIN_API_VERSIONS" "$@" ;;
    perf-test) TOOL_JVM_OPTS="${KPROD_KAFKA_PERF_OPTS:--Xms1g -Xmx1g -XX:+UseG1GC}"; run_tool "$MAIN_PERF_TEST" "$@" ;;
    quorum) run_client_tool "$MAIN_QUORUM" "$@" ;;
    reassign) run_client_tool "$MAIN_REASSIGN" "$@" ;;
    elect-leaders) run_client_tool "$MAIN_ELECT_LEADERS" "$@" ;;
    java-class) (($#)) || die "java-class needs a main class"; run_tool "$@" ;;
    -h | --help | help) usage ;;
    "") usage >&2; exit 2 ;;
    *) die "unknown command '$cmd' (see --help)" ;;
    esac
}

main "$@"
