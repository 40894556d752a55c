#!/usr/bin/env bash
# HTTP benchmark of webdemo behind nginx on loopback, as deployed; a measurement, not a test (nothing asserts).
#
#   bench/run.sh                           # defaults below: 3 rounds x 9 targets x 8 s, about 4.5 min on 2 cores
#   ROUNDS=5 DURATION=10s bench/run.sh
#   flock /tmp/webdemo-heavy.lock bench/run.sh   # on a shared machine: one heavy job at a time
#
# One nginx on 127.0.0.1 (its own temp config, ports 18080-18084, pid and logs; not the system service) with upstream
# keep-alive as the nginx role renders it (HTTP/1.1, keepalive 32, keepalive_timeout 4s), in front of four servers on
# unix sockets, each started as the app role's unit starts it: the socket created by systemd-socket-activate and
# handed over as LISTEN_FDS (as webdemo.socket does), the environment of the role's webdemo.env (role defaults), and
#   gunicorn: gunicorn --config python:webdemo.gunicorn_conf webdemo.wsgi:app
#   granian:  webdemo-granian (python -m webdemo.granian_server, the same main())
# each with metrics on and off (WEBDEMO_METRICS_ENABLED). Targets, measured with wrk --latency:
#   nginx static        nginx `return 200` (the ceiling)
#   <server> metrics on/off, on /api/v1/health and /api/v1/info
# Every round runs every target once (a fixed DURATION each), in an order rotated by one per round; each target gets
# WARMUP first. Per target: the median req/s over the rounds, the ratio to the ceiling (the median of the per-round
# ratios to that round's static run), the median p50 and p99; per server and path the metrics cost, the median of the
# per-round 1 - on/off. After the rounds each metrics-on server's /metrics must have counted every request wrk got an
# answer for (the histogram's _count, summed over its workers).
#
# Writes bench/results/<stamp>.{json,md,png} (the table and a chart of req/s and p99 per target) and copies the md and
# png to docs/bench/latest.{md,png} (COPY_LATEST=0 to skip), which the README shows.
# Needs: wrk, nginx (nginx-light), systemd-socket-activate (systemd), curl; the .venv (PYTHON=...) with the app's
# requirements and matplotlib. scripts/setup.sh installs them.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
ROUNDS="${ROUNDS:-3}"
DURATION="${DURATION:-8s}"            # of every measured wrk run
WARMUP="${WARMUP:-2s}"                # of each target's warm-up run, before round 1
THREADS="${THREADS:-2}"               # wrk threads
CONNS="${CONNS:-32}"                  # wrk connections (to nginx)
WORKERS="${WORKERS:-}"                # "" = the role's default: one per core, at least 2 (webdemo.settings)
UPSTREAM_KEEPALIVE="${UPSTREAM_KEEPALIVE:-32}"   # nginx_upstream_keepalive
COPY_LATEST="${COPY_LATEST:-1}"
NGINX="${NGINX:-/usr/sbin/nginx}"
PORT_BASE="${PORT_BASE:-18080}"
PATHS=(/api/v1/health /api/v1/info)
SERVERS=(gunicorn-on gunicorn-off granian-on granian-off)

for tool in wrk curl systemd-socket-activate "$NGINX" "$PYTHON"; do
  command -v "$tool" >/dev/null || { echo "bench: missing $tool (scripts/setup.sh installs wrk, nginx-light)" >&2; exit 2; }
done
[[ "$DURATION" =~ ^[0-9]+s$ && "$WARMUP" =~ ^[0-9]+s$ ]] || { echo "bench: DURATION/WARMUP as <N>s" >&2; exit 2; }
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || { echo "bench: ROUNDS must be a positive integer" >&2; exit 2; }

TMP="$(mktemp -d /tmp/webdemo-bench.XXXXXX)"
chmod 755 "$TMP"
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the servers, as the app role's units run them ------------------------------------------------------------------
start_server() {  # name (gunicorn-on, granian-off, ...)
  local name=$1 server=${1%-*} metrics=true
  [[ ${1##*-} == off ]] && metrics=false
  local sock="$TMP/$name.sock" prom="$TMP/$name-prom"
  mkdir -p "$prom"
  local -a cmd
  if [[ $server == gunicorn ]]; then
    cmd=("$PYTHON" -m gunicorn --config python:webdemo.gunicorn_conf webdemo.wsgi:app)
  else
    cmd=("$PYTHON" -m webdemo.granian_server)
  fi
  # webdemo.env of the role with its defaults (roles/app/templates/webdemo.env.j2); the socket is systemd's.
  local -a env=(
    "PYTHONPATH=$ROOT/app/src" "PATH=$PATH" "LANG=C.UTF-8"
    "WEBDEMO_SERVER=$server" "WEBDEMO_BIND=unix:$sock" "WEBDEMO_THREADS=1" "WEBDEMO_WORKER_CLASS=gthread"
    "WEBDEMO_TIMEOUT=30" "WEBDEMO_GRACEFUL_TIMEOUT=30" "WEBDEMO_KEEPALIVE=5" "WEBDEMO_ACCESS_LOG=off"
    "WEBDEMO_LOG_LEVEL=info" "WEBDEMO_MAX_REQUESTS=0" "WEBDEMO_MAX_BODY_BYTES=1048576"
    "WEBDEMO_INFO_ENABLED=true" "WEBDEMO_METRICS_ENABLED=$metrics" "PROMETHEUS_MULTIPROC_DIR=$prom"
  )
  [[ -n "$WORKERS" ]] && env+=("WEBDEMO_WORKERS=$WORKERS")
  local -a flags=()
  local e
  for e in "${env[@]}"; do flags+=(-E "$e"); done
  # Like webdemo.socket: the socket exists before the server, which starts on the first connection and gets it as
  # fd 3 (LISTEN_FDS=1, LISTEN_PID = its own pid: systemd-socket-activate execs the server).
  systemd-socket-activate -l "$sock" "${flags[@]}" "${cmd[@]}" >"$TMP/$name.log" 2>&1 &
  PIDS+=($!)
}
for s in "${SERVERS[@]}"; do start_server "$s"; done

# --- nginx -----------------------------------------------------------------------------------------------------------
port_of() {  # target name -> nginx port
  case $1 in
    static) echo "$PORT_BASE" ;;
    gunicorn-on) echo $((PORT_BASE + 1)) ;;
    gunicorn-off) echo $((PORT_BASE + 2)) ;;
    granian-on) echo $((PORT_BASE + 3)) ;;
    granian-off) echo $((PORT_BASE + 4)) ;;
  esac
}
user_line=""
# As root, nginx's workers would run as nobody, who may not connect to the sockets (mode 0755 / 0660): run them as us.
[[ $(id -u) == 0 ]] && user_line="user $(id -un) $(id -gn);"
{
  echo "$user_line"
  echo "worker_processes auto;"
  echo "pid $TMP/nginx.pid;"
  echo "error_log $TMP/nginx-error.log warn;"
  echo "events { worker_connections 4096; }"
  echo "http {"
  # No access log: nginx's log write is the same for every target; the bench compares the servers behind it.
  echo "  access_log off;"
  echo "  keepalive_timeout 15s; keepalive_requests 1000;"
  for d in client_body proxy fastcgi uwsgi scgi; do echo "  ${d}_temp_path $TMP/nginx-$d;"; done
  # The proxy settings of the role's nginx.conf.j2 (backend mode).
  echo "  proxy_http_version 1.1;"
  echo "  proxy_set_header Connection \"\";"
  echo "  proxy_set_header Host \$host;"
  echo "  proxy_set_header X-Real-IP \$remote_addr;"
  echo "  proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;"
  echo "  proxy_set_header X-Forwarded-Proto \$scheme;"
  echo "  proxy_set_header X-Request-ID \$request_id;"
  echo "  proxy_connect_timeout 2s; proxy_read_timeout 35s; proxy_send_timeout 10s;"
  echo "  server { listen 127.0.0.1:$PORT_BASE; location / { default_type application/json; return 200 '{\"success\": true}'; } }"
  for s in "${SERVERS[@]}"; do
    echo "  upstream $s { server unix:$TMP/$s.sock; keepalive $UPSTREAM_KEEPALIVE; keepalive_timeout 4s; }"
    echo "  server { listen 127.0.0.1:$(port_of "$s"); location / { proxy_pass http://$s; } }"
  done
  echo "}"
} >"$TMP/nginx.conf"
"$NGINX" -t -q -c "$TMP/nginx.conf" -e "$TMP/nginx-error.log"
"$NGINX" -c "$TMP/nginx.conf" -e "$TMP/nginx-error.log" -g 'daemon off;' &
PIDS+=($!)

wait_ok() {  # url: the first request starts the server behind it (socket activation)
  for _ in $(seq 150); do
    if curl -fsS -o /dev/null --max-time 10 "$1" 2>/dev/null; then return 0; fi
    sleep 0.2
  done
  echo "bench: not ready: $1" >&2
  tail -n 20 "$TMP"/*.log >&2
  exit 1
}
wait_ok "http://127.0.0.1:$PORT_BASE/"
for s in "${SERVERS[@]}"; do wait_ok "http://127.0.0.1:$(port_of "$s")/api/v1/health"; done
sleep 1  # every worker spawned

# --- the runs --------------------------------------------------------------------------------------------------------
TARGETS=("static /")
for p in "${PATHS[@]}"; do for s in "${SERVERS[@]}"; do TARGETS+=("$s $p"); done; done
n=${#TARGETS[@]}
secs=$(( ${#TARGETS[@]} * (ROUNDS * ${DURATION%s} + ${WARMUP%s}) ))
echo "bench: ${n} targets x ${ROUNDS} rounds x ${DURATION} (+${WARMUP} warm-up each), wrk -t${THREADS} -c${CONNS}:" \
     "about $((secs / 60)) min $((secs % 60)) s"
slug() { local t=${1%% *} p=${1#* }; p=${p//\//_}; echo "$t${p%_}"; }   # "granian-on /api/v1/info" -> granian-on_api_v1_info
url_of() { echo "http://127.0.0.1:$(port_of "${1%% *}")${1#* }"; }

LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
STAT_BEFORE="$(head -1 /proc/stat)"
echo "bench: load average before: $LOAD_BEFORE (other jobs on the machine skew every figure; compare rows of one run)"
for t in "${TARGETS[@]}"; do
  echo "bench: warm-up ${WARMUP} ${t}"
  wrk -t"$THREADS" -c"$CONNS" -d"$WARMUP" "$(url_of "$t")" >"$TMP/warmup-$(slug "$t").txt"
done
for round in $(seq "$ROUNDS"); do
  for i in $(seq 0 $((n - 1))); do
    t=${TARGETS[$(( (i + round - 1) % n ))]}
    out="$TMP/wrk-$(slug "$t")-$round.txt"
    printf 'bench: round %d/%d  %d/%d  %-13s %-15s ' "$round" "$ROUNDS" $((i + 1)) "$n" "${t%% *}" "${t#* }"
    wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "$(url_of "$t")" >"$out"
    printf '%10s req/s  p50 %8s  p99 %8s\n' "$(awk '/^Requests\/sec/{print $2}' "$out")" \
      "$(awk '$1=="50%"{print $2}' "$out")" "$(awk '$1=="99%"{print $2}' "$out")"
  done
done

# The metrics-on servers' own count of what they served (the readiness request included), summed over workers.
for s in gunicorn-on granian-on; do
  curl -fsS "http://127.0.0.1:$(port_of "$s")/metrics" >"$TMP/metrics-$s.txt"
done

# How much of the machine the bench had: every CPU's busy time over the runs, and the bench's own (nginx, the servers
# and their workers, wrk and curl); the rest went to other jobs on the machine.
STAT_AFTER="$(head -1 /proc/stat)"
times >"$TMP/times.txt"   # (not in a subshell) the user and system time of this shell's finished children: wrk, curl
"$PYTHON" - "$TMP/cpu.json" "$STAT_BEFORE" "$STAT_AFTER" "$(tail -1 "$TMP/times.txt")" "${PIDS[@]}" <<'PY'
import json, os, re, sys
import psutil
out, before, after, wrk = sys.argv[1:5]
def busy(line):
    v = [int(x) for x in line.split()[1:]]
    return sum(v[:8]) - v[3] - v[4], sum(v[:8])  # all but idle and iowait; total
(b0, t0), (b1, t1) = busy(before), busy(after)
hz = os.sysconf("SC_CLK_TCK")
own = sum(float(m) * 60 + float(s) for m, s in re.findall(r"(\d+)m([\d.]+)s", wrk))
for pid in map(int, sys.argv[5:]):
    try:
        proc = psutil.Process(pid)
        for p in [proc, *proc.children(recursive=True)]:
            c = p.cpu_times()
            own += c.user + c.system + c.children_user + c.children_system
    except psutil.Error:
        pass
cpus = os.cpu_count() or 1
wall = (t1 - t0) / hz / cpus
json.dump({"wall_s": wall, "busy_cores": (b1 - b0) / hz / wall, "bench_cores": own / wall,
           "other_cores": max(0.0, (b1 - b0) / hz - own) / wall, "cpus": cpus}, open(out, "w"))
PY

# --- results ---------------------------------------------------------------------------------------------------------
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$HERE/results"
cat >"$TMP/config.json" <<JSON
{"rounds": $ROUNDS, "duration": "$DURATION", "warmup": "$WARMUP", "wrk_threads": $THREADS, "wrk_connections": $CONNS,
 "workers": "${WORKERS:-default (cores, min 2)}", "upstream": "unix socket (systemd-socket-activate)",
 "upstream_keepalive": $UPSTREAM_KEEPALIVE, "nginx": "$("$NGINX" -v 2>&1 | sed 's/.*: //')",
 "wrk": "$(wrk -v 2>&1 | head -1 | awk '{print $2}')", "stamp": "$STAMP",
 "load_before": "$LOAD_BEFORE", "load_after": "$(cut -d' ' -f1-3 /proc/loadavg)"}
JSON
latest=()
[[ "$COPY_LATEST" == 1 ]] && latest=(--latest "$ROOT/docs/bench")
if ! "$PYTHON" "$HERE/report.py" "$TMP" "$HERE/results/$STAMP" "${latest[@]}"; then
  cp -r "$TMP" "$HERE/results/$STAMP-raw"
  echo "bench: the report failed; the raw outputs are in bench/results/$STAMP-raw (report.py DIR OUT)" >&2
  exit 1
fi
