#!/usr/bin/env bash
# Installs the system packages the project needs when they are missing (Debian/Ubuntu, as root or sudo).
#   bootstrap.sh system [SERVER...]   Java 17 (with javac) and Maven; the PostgreSQL and MariaDB
#                                     server binaries when SERVER names them (or none is named)
# (`kedro services bootstrap` runs it for the project's servers; `kedro services up` before it
# starts them).
set -euo pipefail

need=()
have() { command -v "$1" >/dev/null 2>&1; }
pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

wants() { [ ${#servers[@]} -eq 0 ] || [[ " ${servers[*]} " == *" $1 "* ]]; }

case "${1:-system}" in
  system)
    servers=("${@:2}")
    # java runs Spark and Kafka; javac builds spark-etl's JVM helper when building it from source
    { have java && have javac; } || need+=(openjdk-17-jdk-headless)
    have mvn || need+=(maven)
    ! wants postgres || [ -n "$(pg_bin)" ] || need+=(postgresql)
    ! wants mariadb || { have mariadbd || have mysqld || [ -x /usr/sbin/mariadbd ]; } || need+=(mariadb-server mariadb-client)
    if [ ${#need[@]} -gt 0 ]; then
      echo "bootstrap: installing ${need[*]}"
      SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
      export DEBIAN_FRONTEND=noninteractive
      $SUDO apt-get update -qq
      # A temporary policy-rc.d keeps the packages from starting system-wide services: ours run on
      # private ports under .local/.
      had_policy=1; [ -e /usr/sbin/policy-rc.d ] || had_policy=0
      [ "$had_policy" = 1 ] || { printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null; $SUDO chmod +x /usr/sbin/policy-rc.d; }
      $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
      [ "$had_policy" = 1 ] || $SUDO rm -f /usr/sbin/policy-rc.d
    fi
    ;;
  *) echo "usage: $0 system [postgres mariadb s3 kafka spark]" >&2; exit 2 ;;
esac
