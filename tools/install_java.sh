#!/usr/bin/env bash
# Make sure a Java runtime (8 or newer) is on PATH: pycocoevalcap's PTB tokenizer and METEOR,
# which CaptionMetric uses, run Java. Does nothing when `java` is already there; otherwise installs
# Debian/Ubuntu's default-jre-headless with apt-get (as root, or through sudo).
set -euo pipefail
if command -v java >/dev/null 2>&1; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install_java.sh: no java and no apt-get; install a Java 8+ runtime by hand" >&2
  exit 1
fi
SUDO=()
[ "$(id -u)" -eq 0 ] || SUDO=(sudo)
"${SUDO[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq default-jre-headless
java -version
