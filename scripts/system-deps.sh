#!/usr/bin/env bash
# Installs the Debian packages the project and its tests need, only those missing.
# Run as root, or with sudo available. Idempotent and quiet when nothing is missing.
set -euo pipefail

# --minimal: only a Python with venv. --demo: what `make run` needs (plus Java and
# Maven for Apache Kafka, busybox-static for the demo container).
MINIMAL=0
DEMO=0
if [ "${1:-}" = "--minimal" ]; then MINIMAL=1; fi
if [ "${1:-}" = "--demo" ]; then DEMO=1; fi

# binary -> Debian package that provides it
declare -A NEEDS=(
  [redis-server]=redis-server
  [sshd]=openssh-server
  [dockerd]=docker.io
  [prometheus]=prometheus
  [kcat]=kcat
  [busybox]=busybox-static
  [gnome-keyring-daemon]=gnome-keyring
  [dbus-run-session]=dbus
  [ip]=iproute2
  [wrk]=wrk
  [tmux]=tmux
  [java]=openjdk-17-jre-headless
  [mvn]=maven
  [pgrep]=procps
  [sudo]=sudo
)
# postgres lives outside PATH on Debian
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)

missing=()
if [ "$MINIMAL" = 1 ]; then NEEDS=(); fi
if [ "$DEMO" = 1 ]; then
  NEEDS=([java]=openjdk-17-jre-headless [mvn]=maven [busybox]=busybox-static)
  MINIMAL=1  # no PostgreSQL
fi
for bin in "${!NEEDS[@]}"; do
  if ! command -v "$bin" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$bin" ]; then
    missing+=("${NEEDS[$bin]}")
  fi
done
if [ "$MINIMAL" = 0 ] && { [ -z "$PG_BIN" ] || [ ! -x "$PG_BIN/initdb" ]; }; then
  missing+=(postgresql)
fi
if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
  missing+=(python3-venv)
fi

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "system-deps: missing packages ${missing[*]}; run as root or install sudo" >&2
    exit 1
  fi
fi
echo "system-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# policy-rc.d keeps the packages' own services (redis, sshd, docker, prometheus)
# from starting: the tests start their own throwaway instances.
POLICY=/usr/sbin/policy-rc.d
CREATED_POLICY=0
if [ ! -e "$POLICY" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null
  $SUDO chmod +x "$POLICY"
  CREATED_POLICY=1
fi
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
if [ "$CREATED_POLICY" = 1 ]; then $SUDO rm -f "$POLICY"; fi
