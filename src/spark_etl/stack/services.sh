#!/usr/bin/env bash
# The local stack of a spark-etl project: real servers on 127.0.0.1, data and logs under the
# project's .local/ (git-ignored). Run through `kedro services` (spark_etl.stack.services), which
# takes the servers, database and buckets from conf/<env>/services*.yml, keeps the servers'
# passwords in the project's vault and hands them to this script in the environment.
#
#   services.sh up NAME...       start what is not running (idempotent), then write .local/services.env
#   services.sh down NAME...     stop (the data stays under .local/)
#   services.sh status NAME...   one line per server: up/down, address, log file
#
# NAME is one of: postgres mariadb s3 kafka spark.
# Ports can be moved with SPARK_ETL_{PG,MYSQL,S3,KAFKA,KAFKA_CONTROLLER,SPARK_MASTER,SPARK_UI}_PORT.
# The defaults sit below Linux's ephemeral range (32768-60999), so no client socket of a test or a
# Spark driver can be holding one of them when a server starts late (as Spark does in `make test`).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PROJECT="${SPARK_ETL_PROJECT:-$PWD}"
LOCAL="${SPARK_ETL_LOCAL:-$PROJECT/.local}"
ENV_FILE="$LOCAL/services.env"
# The Python environment spark-etl runs in: moto's server and boto3 come from there.
PYTHON_BIN="${SPARK_ETL_PYTHON_BIN:-$(dirname "$(command -v python3)")}"
SPARK_ETL_HOME="${SPARK_ETL_HOME:-$HOME/.cache/spark-etl}"
WAIT_SECONDS="${SPARK_ETL_WAIT_SECONDS:-90}"

PG_PORT="${SPARK_ETL_PG_PORT:-25432}"
MYSQL_PORT="${SPARK_ETL_MYSQL_PORT:-23306}"
S3_PORT="${SPARK_ETL_S3_PORT:-25000}"
KAFKA_PORT="${SPARK_ETL_KAFKA_PORT:-29092}"
KAFKA_CONTROLLER_PORT="${SPARK_ETL_KAFKA_CONTROLLER_PORT:-29093}"
SPARK_MASTER_PORT="${SPARK_ETL_SPARK_MASTER_PORT:-27077}"
SPARK_UI_PORT="${SPARK_ETL_SPARK_UI_PORT:-28080}"
KAFKA_POM="$HERE/kafka.pom.xml"
KAFKA_VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$KAFKA_POM")"
PG_DB="${SPARK_ETL_PG_DB:-spark_etl}"
PG_USER="${SPARK_ETL_PG_USER:-spark_etl}"
MY_DB="${SPARK_ETL_MYSQL_DB:-spark_etl}"
MY_USER="${SPARK_ETL_MYSQL_USER:-spark_etl}"
read -r -a S3_BUCKETS <<<"${SPARK_ETL_S3_BUCKETS:-}"

log() { printf 'services: %s\n' "$*"; }
die() { printf 'services: error: %s\n' "$*" >&2; exit 1; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# port_free NAME PORT VAR: before starting NAME, refuse a port another process already listens on.
port_free() {
  port_open "$2" && die "$1: 127.0.0.1:$2 is already taken by another process; stop that process, or move $1 with $3=<free port>"
  return 0
}

# wait_for NAME PORT LOGFILE PIDFILE [READY_CMD...]: until the port answers (and READY_CMD
# succeeds); fails at once if the process of PIDFILE (or "-" for none) has exited.
wait_for() {
  local name="$1" port="$2" logfile="$3" pidfile="$4"; shift 4
  local deadline=$((SECONDS + WAIT_SECONDS)) why=""
  until port_open "$port" && { [ $# -eq 0 ] || "$@" >/dev/null 2>&1; }; do
    if [ "$pidfile" != "-" ] && ! pid_alive "$pidfile"; then
      why="exited before it answered on 127.0.0.1:$port"
    elif [ $SECONDS -ge $deadline ]; then
      why="did not come up on 127.0.0.1:$port within ${WAIT_SECONDS}s"
    fi
    if [ -n "$why" ]; then
      printf 'services: error: %s %s.\n' "$name" "$why" >&2
      printf 'services: its log is %s; last lines:\n' "$logfile" >&2
      tail -n 20 "$logfile" 2>/dev/null | sed 's/^/    /' >&2 || true
      exit 1
    fi
    sleep 0.5
  done
}

# A server's password, from the project's vault (handed over in the environment, never on disk).
secret() {
  local var
  case "$1" in postgres) var=SPARK_ETL_PG_PASSWORD;; mariadb) var=SPARK_ETL_MYSQL_PASSWORD;; s3) var=SPARK_ETL_S3_SECRET_KEY;; esac
  [ -n "${!var:-}" ] || die "$1: no password in \$$var; start the stack with \`kedro services up\`, which takes it from the vault"
  printf '%s' "${!var}"
}

# Run a command as the server's system user when we are root (initdb and mariadbd refuse root).
as_user() {
  local user="$1"; shift
  if [ "$(id -u)" -eq 0 ]; then runuser -u "$user" -- "$@"; else "$@"; fi
}
owner_for() { if [ "$(id -u)" -eq 0 ] && id "$1" >/dev/null 2>&1; then echo "$1"; else id -un; fi; }

# reachable_by NAME USER DIR: a server that runs as another system user must be able to reach its
# data folder (a project under /root or a 0700 folder is not reachable by them).
reachable_by() {
  local name="$1" user="$2" dir="$3"
  [ "$user" = "$(id -un)" ] && return 0
  as_user "$user" test -x "$dir" 2>/dev/null && return 0
  die "$name runs as the system user '$user', which cannot reach $dir; move the project to a folder it can reach, or set SPARK_ETL_LOCAL to one (e.g. SPARK_ETL_LOCAL=/var/tmp/$(basename "$PROJECT")-local)"
}

ensure_system_packages() { bash "$HERE/bootstrap.sh" system "$@"; }

# ---- PostgreSQL -------------------------------------------------------------------------------
pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }
PG_DIR="$LOCAL/postgres"
pg_ready() { "$(pg_bin)/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"; }

postgres_up() {
  local bin owner pass; bin="$(pg_bin)"; [ -n "$bin" ] || die "PostgreSQL binaries not found; run `kedro services bootstrap`"
  owner="$(owner_for postgres)"; pass="$(secret postgres)"
  mkdir -p "$PG_DIR/run"
  reachable_by postgres "$owner" "$PG_DIR"
  if [ ! -f "$PG_DIR/data/PG_VERSION" ]; then
    log "postgres: initdb in $PG_DIR/data"
    chown -R "$owner" "$PG_DIR"
    as_user "$owner" "$bin/initdb" -D "$PG_DIR/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
      -E UTF8 --locale=C.UTF-8 >"$PG_DIR/initdb.log" 2>&1 || die "postgres: initdb failed; see $PG_DIR/initdb.log"
  fi
  chown -R "$owner" "$PG_DIR"
  if ! pg_ready; then
    port_free postgres "$PG_PORT" SPARK_ETL_PG_PORT
    log "postgres: starting on 127.0.0.1:$PG_PORT"
    as_user "$owner" "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/postgres.log" -w -t "$WAIT_SECONDS" start \
      -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -k $PG_DIR/run -c max_connections=200 -c fsync=off" \
      >/dev/null 2>&1 || true
  fi
  wait_for postgres "$PG_PORT" "$PG_DIR/postgres.log" - pg_ready
  # Role and database of the tests and the demo (idempotent).
  as_user "$owner" "$bin/psql" -q -h "$PG_DIR/run" -p "$PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 \
    -v pass="$pass" >/dev/null <<SQL || die "postgres: could not create role/database; see $PG_DIR/postgres.log"
SELECT format('CREATE ROLE $PG_USER LOGIN CREATEDB PASSWORD %L', :'pass')
  WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_USER') \gexec
SELECT format('ALTER ROLE $PG_USER PASSWORD %L', :'pass') \gexec
SELECT 'CREATE DATABASE $PG_DB OWNER $PG_USER'
  WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$PG_DB') \gexec
SQL
}

postgres_down() {
  local bin; bin="$(pg_bin)"
  if [ -n "$bin" ] && [ -f "$PG_DIR/data/postmaster.pid" ]; then
    as_user "$(owner_for postgres)" "$bin/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
  fi
}
postgres_status() { pg_ready 2>/dev/null; }

# ---- MariaDB ----------------------------------------------------------------------------------
MY_DIR="$LOCAL/mariadb"
MY_SOCK="$MY_DIR/run/mysqld.sock"
mariadbd_bin() { command -v mariadbd 2>/dev/null || { [ -x /usr/sbin/mariadbd ] && echo /usr/sbin/mariadbd; } || command -v mysqld; }
my_client() { command -v mariadb 2>/dev/null || command -v mysql; }
my_root() { "$(my_client)" --no-defaults -uroot --socket="$MY_SOCK" "$@"; }
mariadb_ready() { my_root -e 'SELECT 1'; }

mariadb_up() {
  local owner pass bin; owner="$(owner_for mysql)"; pass="$(secret mariadb)"; bin="$(mariadbd_bin)"
  [ -n "$bin" ] || die "MariaDB server not found; run `kedro services bootstrap`"
  mkdir -p "$MY_DIR/run"
  reachable_by mariadb "$owner" "$MY_DIR"
  if [ ! -d "$MY_DIR/data/mysql" ]; then
    log "mariadb: initialising $MY_DIR/data"
    chown -R "$owner" "$MY_DIR"
    mariadb-install-db --no-defaults --user="$owner" --datadir="$MY_DIR/data" \
      --auth-root-authentication-method=normal --skip-test-db >"$MY_DIR/install.log" 2>&1 \
      || die "mariadb: mariadb-install-db failed; see $MY_DIR/install.log"
  fi
  chown -R "$owner" "$MY_DIR"
  if ! pid_alive "$MY_DIR/run/mariadbd.pid"; then
    port_free mariadb "$MYSQL_PORT" SPARK_ETL_MYSQL_PORT
    log "mariadb: starting on 127.0.0.1:$MYSQL_PORT"
    nohup "$bin" --no-defaults --user="$owner" --datadir="$MY_DIR/data" --port="$MYSQL_PORT" \
      --bind-address=127.0.0.1 --socket="$MY_SOCK" --pid-file="$MY_DIR/run/mariadbd.pid" \
      --log-error="$MY_DIR/mariadb.log" --local-infile=1 --max-connections=200 \
      --innodb-flush-log-at-trx-commit=2 --character-set-server=utf8mb4 \
      --collation-server=utf8mb4_unicode_ci --skip-name-resolve >/dev/null 2>&1 &
  fi
  wait_for mariadb "$MYSQL_PORT" "$MY_DIR/mariadb.log" - mariadb_ready
  my_root >/dev/null <<SQL || die "mariadb: could not create user/database; see $MY_DIR/mariadb.log"
CREATE DATABASE IF NOT EXISTS $MY_DB CHARACTER SET utf8mb4;
CREATE USER IF NOT EXISTS '$MY_USER'@'127.0.0.1' IDENTIFIED BY '$pass';
CREATE USER IF NOT EXISTS '$MY_USER'@'localhost' IDENTIFIED BY '$pass';
ALTER USER '$MY_USER'@'127.0.0.1' IDENTIFIED BY '$pass';
ALTER USER '$MY_USER'@'localhost' IDENTIFIED BY '$pass';
GRANT ALL PRIVILEGES ON $MY_DB.* TO '$MY_USER'@'127.0.0.1';
GRANT ALL PRIVILEGES ON $MY_DB.* TO '$MY_USER'@'localhost';
FLUSH PRIVILEGES;
SQL
}

mariadb_down() {
  if pid_alive "$MY_DIR/run/mariadbd.pid"; then
    local pid; pid="$(cat "$MY_DIR/run/mariadbd.pid")"; kill "$pid"
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  fi
}
mariadb_status() { pid_alive "$MY_DIR/run/mariadbd.pid" && port_open "$MYSQL_PORT"; }

# ---- S3 (moto in server mode) -----------------------------------------------------------------
S3_DIR="$LOCAL/s3"
S3_ENDPOINT="http://127.0.0.1:$S3_PORT"
s3_ready() { curl -fsS --max-time 2 -o /dev/null "$S3_ENDPOINT/moto-api/"; }

s3_up() {
  [ -x "$PYTHON_BIN/moto_server" ] || die "moto_server not found in $PYTHON_BIN; install spark-etl's local stack: pip install 'spark-etl[local]'"
  mkdir -p "$S3_DIR"
  if ! pid_alive "$S3_DIR/moto.pid"; then
    port_free s3 "$S3_PORT" SPARK_ETL_S3_PORT
    log "s3: starting moto on 127.0.0.1:$S3_PORT"
    nohup "$PYTHON_BIN/moto_server" -H 127.0.0.1 -p "$S3_PORT" >"$S3_DIR/moto.log" 2>&1 &
    echo $! >"$S3_DIR/moto.pid"
  fi
  wait_for s3 "$S3_PORT" "$S3_DIR/moto.log" "$S3_DIR/moto.pid" s3_ready
  # moto keeps buckets in memory: (re)create them on every `up`.
  S3_ENDPOINT="$S3_ENDPOINT" AWS_ACCESS_KEY_ID="$(s3_access_key)" AWS_SECRET_ACCESS_KEY="$(secret s3)" \
    "$PYTHON_BIN/python" - "${S3_BUCKETS[@]}" <<'PY' || die "s3: could not create buckets; see $S3_DIR/moto.log"
import os, sys
import boto3
s3 = boto3.client("s3", endpoint_url=os.environ["S3_ENDPOINT"], region_name="us-east-1")
have = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
for bucket in sys.argv[1:]:
    if bucket not in have:
        s3.create_bucket(Bucket=bucket)
PY
}
s3_access_key() { printf '%s' "${SPARK_ETL_S3_ACCESS_KEY:-spark-etl-local}"; }
s3_down() {
  if pid_alive "$S3_DIR/moto.pid"; then kill "$(cat "$S3_DIR/moto.pid")"; fi
  rm -f "$S3_DIR/moto.pid"
}
s3_status() { pid_alive "$S3_DIR/moto.pid" && s3_ready 2>/dev/null; }

# ---- Kafka (single node, KRaft) ---------------------------------------------------------------
KAFKA_DIR="$LOCAL/kafka"
KAFKA_LIBS="$SPARK_ETL_HOME/kafka/$KAFKA_VERSION/libs"
kafka_java() { java -Xms256m -Xmx768m -Dlog4j2.configurationFile="$KAFKA_DIR/log4j2.yaml" -cp "$KAFKA_LIBS/*" "$@"; }
kafka_ready() { grep -q 'Kafka Server started' "$KAFKA_DIR/server.log"; }

kafka_resolve() {
  if [ ! -f "$KAFKA_LIBS/.complete" ]; then
    log "kafka: resolving Kafka $KAFKA_VERSION from Maven Central into $KAFKA_LIBS"
    rm -rf "$KAFKA_LIBS"; mkdir -p "$KAFKA_LIBS"
    mvn -q -B -f "$KAFKA_POM" dependency:copy-dependencies -DincludeScope=runtime \
      -DoutputDirectory="$KAFKA_LIBS" >"$SPARK_ETL_HOME/kafka/resolve.log" 2>&1 \
      || die "kafka: Maven could not resolve $KAFKA_POM; see $SPARK_ETL_HOME/kafka/resolve.log"
    touch "$KAFKA_LIBS/.complete"
  fi
}

kafka_up() {
  kafka_resolve
  mkdir -p "$KAFKA_DIR"
  cat >"$KAFKA_DIR/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$KAFKA_DIR/data
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
log.cleaner.backoff.ms=1000
EOF
  cat >"$KAFKA_DIR/log4j2.yaml" <<EOF
Configuration:
  Appenders:
    File:
      name: file
      fileName: $KAFKA_DIR/server.log
      PatternLayout: {pattern: "[%d] %p %m (%c)%n"}
  Loggers:
    Root: {level: INFO, AppenderRef: [{ref: file}]}
EOF
  if [ ! -f "$KAFKA_DIR/data/meta.properties" ]; then
    log "kafka: formatting KRaft storage in $KAFKA_DIR/data"
    kafka_java kafka.tools.StorageTool format -t "$(kafka_java kafka.tools.StorageTool random-uuid)" \
      -c "$KAFKA_DIR/server.properties" >"$KAFKA_DIR/format.log" 2>&1 \
      || die "kafka: storage format failed; see $KAFKA_DIR/format.log"
  fi
  if ! pid_alive "$KAFKA_DIR/kafka.pid"; then
    port_free kafka "$KAFKA_PORT" SPARK_ETL_KAFKA_PORT
    port_free kafka "$KAFKA_CONTROLLER_PORT" SPARK_ETL_KAFKA_CONTROLLER_PORT
    log "kafka: starting broker $KAFKA_VERSION on 127.0.0.1:$KAFKA_PORT"
    : >"$KAFKA_DIR/server.log"
    nohup java -Xms256m -Xmx768m -Dlog4j2.configurationFile="$KAFKA_DIR/log4j2.yaml" -cp "$KAFKA_LIBS/*" \
      kafka.Kafka "$KAFKA_DIR/server.properties" >"$KAFKA_DIR/stdout.log" 2>&1 &
    echo $! >"$KAFKA_DIR/kafka.pid"
  fi
  wait_for kafka "$KAFKA_PORT" "$KAFKA_DIR/server.log" "$KAFKA_DIR/kafka.pid" kafka_ready
}
kafka_down() {
  if pid_alive "$KAFKA_DIR/kafka.pid"; then
    local pid; pid="$(cat "$KAFKA_DIR/kafka.pid")"; kill "$pid"
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  fi
  rm -f "$KAFKA_DIR/kafka.pid"
}
kafka_status() { pid_alive "$KAFKA_DIR/kafka.pid" && port_open "$KAFKA_PORT"; }

# ---- Spark standalone (master + one worker), for spark-submit tests ---------------------------
SPARK_DIR="$LOCAL/spark"
spark_home() { "$PYTHON_BIN/python" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))'; }
spark_ready() { curl -fsS --max-time 2 "http://127.0.0.1:$SPARK_UI_PORT/json/" | grep -q '"aliveworkers" *: *[1-9]'; }

spark_up() {
  local home; home="$(spark_home)"; mkdir -p "$SPARK_DIR/work"
  if ! pid_alive "$SPARK_DIR/master.pid"; then
    port_free spark "$SPARK_MASTER_PORT" SPARK_ETL_SPARK_MASTER_PORT
    port_free spark "$SPARK_UI_PORT" SPARK_ETL_SPARK_UI_PORT
    log "spark: starting master on 127.0.0.1:$SPARK_MASTER_PORT (UI $SPARK_UI_PORT)"
    SPARK_HOME="$home" nohup "$home/bin/spark-class" org.apache.spark.deploy.master.Master \
      --host 127.0.0.1 --port "$SPARK_MASTER_PORT" --webui-port "$SPARK_UI_PORT" >"$SPARK_DIR/master.log" 2>&1 &
    echo $! >"$SPARK_DIR/master.pid"
  fi
  wait_for spark-master "$SPARK_MASTER_PORT" "$SPARK_DIR/master.log" "$SPARK_DIR/master.pid"
  if ! pid_alive "$SPARK_DIR/worker.pid"; then
    log "spark: starting worker (2 cores, 4g)"
    SPARK_HOME="$home" SPARK_WORKER_DIR="$SPARK_DIR/work" nohup "$home/bin/spark-class" \
      org.apache.spark.deploy.worker.Worker --host 127.0.0.1 --cores 2 --memory 4g --webui-port 0 \
      "spark://127.0.0.1:$SPARK_MASTER_PORT" >"$SPARK_DIR/worker.log" 2>&1 &
    echo $! >"$SPARK_DIR/worker.pid"
  fi
  wait_for spark-worker "$SPARK_UI_PORT" "$SPARK_DIR/worker.log" "$SPARK_DIR/worker.pid" spark_ready
}
spark_down() {
  local f pid; for f in worker master; do
    if pid_alive "$SPARK_DIR/$f.pid"; then
      pid="$(cat "$SPARK_DIR/$f.pid")"; kill "$pid"
      # wait for the JVM to exit and free its ports, or a following `up` finds them taken
      for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    fi
    rm -f "$SPARK_DIR/$f.pid"
  done
}
spark_status() { pid_alive "$SPARK_DIR/master.pid" && spark_ready 2>/dev/null; }

# ---- env file ---------------------------------------------------------------------------------
# Endpoints only: the servers' passwords live in the project's vault, which the lines at the end
# name (conf/<env>/credentials.yml reads them as ${vault:postgres.password}).
write_env() {
  local tmp="$ENV_FILE.tmp"
  mkdir -p "$LOCAL"
  (umask 077; cat >"$tmp" <<EOF
# Written by \`kedro services up\`; read by conf/ (oc.env), the tests and the demo. Do not commit.
SPARK_ETL_PG_HOST=127.0.0.1
SPARK_ETL_PG_PORT=$PG_PORT
SPARK_ETL_PG_DB=$PG_DB
SPARK_ETL_PG_USER=$PG_USER
SPARK_ETL_PG_URL=jdbc:postgresql://127.0.0.1:$PG_PORT/$PG_DB
SPARK_ETL_MYSQL_HOST=127.0.0.1
SPARK_ETL_MYSQL_PORT=$MYSQL_PORT
SPARK_ETL_MYSQL_DB=$MY_DB
SPARK_ETL_MYSQL_USER=$MY_USER
SPARK_ETL_MYSQL_URL=jdbc:mysql://127.0.0.1:$MYSQL_PORT/$MY_DB
SPARK_ETL_S3_ENDPOINT=$S3_ENDPOINT
SPARK_ETL_S3_REGION=us-east-1
SPARK_ETL_KAFKA_BOOTSTRAP=127.0.0.1:$KAFKA_PORT
SPARK_ETL_SPARK_MASTER=spark://127.0.0.1:$SPARK_MASTER_PORT
EOF
  [ -z "${SPARK_ETL_VAULT_PATH:-}" ] || echo "SPARK_ETL_VAULT_PATH=$SPARK_ETL_VAULT_PATH" >>"$tmp"
  [ -z "${SPARK_ETL_VAULT_KEY_FILE:-}" ] || echo "SPARK_ETL_VAULT_KEY_FILE=$SPARK_ETL_VAULT_KEY_FILE" >>"$tmp"
  )
  mv "$tmp" "$ENV_FILE"
}

describe() {
  case "$1" in
    postgres) echo "127.0.0.1:$PG_PORT  db=$PG_DB user=$PG_USER  log=$PG_DIR/postgres.log" ;;
    mariadb) echo "127.0.0.1:$MYSQL_PORT  db=$MY_DB user=$MY_USER  log=$MY_DIR/mariadb.log" ;;
    s3) echo "$S3_ENDPOINT  buckets=${S3_BUCKETS[*]}  log=$S3_DIR/moto.log" ;;
    kafka) echo "127.0.0.1:$KAFKA_PORT  (KRaft, Kafka $KAFKA_VERSION)  log=$KAFKA_DIR/server.log" ;;
    spark) echo "spark://127.0.0.1:$SPARK_MASTER_PORT  ui=http://127.0.0.1:$SPARK_UI_PORT  log=$SPARK_DIR/master.log" ;;
  esac
}

check_names() {
  local n; for n in "$@"; do
    case "$n" in postgres|mariadb|s3|kafka|spark) ;; *) die "unknown server '$n' (choose from: postgres mariadb s3 kafka spark)";; esac
  done
}

cmd="${1:-}"; shift || true
[ $# -gt 0 ] || die "usage: $0 up|down|status NAME... (NAME: postgres mariadb s3 kafka spark)"
check_names "$@"
case "$cmd" in
  up)
    needs_system=0; for n in "$@"; do case "$n" in postgres|mariadb|kafka) needs_system=1;; esac; done
    [ $needs_system = 0 ] || ensure_system_packages "$@"
    for n in "$@"; do "${n}_up"; printf 'services: %-8s up    %s\n' "$n" "$(describe "$n")"; done
    write_env
    log "endpoints written to ${ENV_FILE#"$PROJECT"/}"
    ;;
  down) for n in "$@"; do "${n}_down"; printf 'services: %-8s down\n' "$n"; done ;;
  status)
    rc=0
    for n in "$@"; do
      if "${n}_status" >/dev/null 2>&1; then printf 'services: %-8s up    %s\n' "$n" "$(describe "$n")"
      else printf 'services: %-8s down\n' "$n"; rc=3; fi
    done
    exit $rc
    ;;
  *) die "usage: $0 up|down|status NAME... (NAME: postgres mariadb s3 kafka spark)" ;;
esac
