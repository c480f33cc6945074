#!/usr/bin/env bash
# setup.sh — installs what kprod's tests and tools need on a fresh Debian machine of this kind, idempotently:
# cmake (librdkafka is built from source by the rdkafka crate), valgrind (instruction-count gate), chromium
# (headless check of the HTML report), openssl (certificates of `kafka.sh up --security`). Java 17 + Maven and Rust
# come with the machine; Kafka comes from Maven Central through scripts/kafka.sh.
set -euo pipefail

need=()
command -v cmake >/dev/null 2>&1 || need+=(cmake)
command -v valgrind >/dev/null 2>&1 || need+=(valgrind)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v java >/dev/null 2>&1 || need+=(openjdk-17-jdk-headless)
command -v mvn >/dev/null 2>&1 || need+=(maven)
command -v g++ >/dev/null 2>&1 || need+=(g++)
# openssl generates the certificates of `scripts/kafka.sh up --security`.
command -v openssl >/dev/null 2>&1 || need+=(openssl)
# librdkafka 2.12 (rdkafka-sys, feature peer-rdkafka) includes curl/curl.h even with curl off: the header only.
[[ -f /usr/include/x86_64-linux-gnu/curl/curl.h || -f /usr/include/curl/curl.h ]] || need+=(libcurl4-openssl-dev)
if ((${#need[@]})); then
    echo "setup: installing ${need[*]} with apt-get"
    SUDO=""
    [[ $(id -u) -ne 0 ]] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
command -v cargo >/dev/null 2>&1 || { echo "setup: cargo not found — install Rust with rustup first" >&2; exit 1; }
echo "setup: ok (cmake $(cmake --version | head -1 | awk '{print $3}'), valgrind $(valgrind --version), $(chromium --version 2>/dev/null | head -1))"
