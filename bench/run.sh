#!/usr/bin/env bash
# Benchmark webdemo behind nginx on loopback only; not a test.
#
#   bench/run.sh                      # defaults below
#   DURATION=20s CONNS=64 bench/run.sh
#   WORKER_CLASS=sync WORKERS=2 bench/run.sh
#
# Starts its own nginx (temp config, ports 18080-18082, own pid/error log; not the system
# service) and two gunicorns (metrics on / off), runs wrk against
#   static  : nginx `return 200` (the ceiling)
#   health  : /api/v1/health through nginx, metrics on
#   health-nometrics : /api/v1/health through nginx, metrics off
#   info    : /api/v1/info through nginx, metrics on
# prints req/s, p50, p99 and the ratios, and writes bench/results/<stamp>.{json,md}.
# Needs: apt-get install -y wrk nginx-light; python with webdemo's requirements (PYTHON=...).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
DURATION="${DURATION:-10s}"
WARMUP="${WARMUP:-2s}"
ROUNDS="${ROUNDS:-3}"                 # rounds, targets interleaved; the median is reported
THREADS="${THREADS:-2}"
CONNS="${CONNS:-32}"
WORKERS="${WORKERS:-2}"
WORKER_CLASS="${WORKER_CLASS:-gthread}"
GTHREADS="${GTHREADS:-1}"
UPSTREAM="${UPSTREAM:-unix}"          # unix | tcp
UPSTREAM_KEEPALIVE="${UPSTREAM_KEEPALIVE:-32}"   # 0 = no keep-alive to gunicorn
PORT_STATIC=18080 PORT_ON=18081 PORT_OFF=18082
NGINX="${NGINX:-/usr/sbin/nginx}"

for tool in wrk "$NGINX" "$PYTHON"; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install -y wrk nginx-light)" >&2; exit 2; }
done

TMP="$(mktemp -d /tmp/webdemo-bench.XXXXXX)"
chmod 755 "$TMP"   # nginx workers (www-data) must reach the gunicorn unix sockets
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

if [[ "$UPSTREAM" == unix ]]; then
  BIND_ON="unix:$TMP/on.sock" BIND_OFF="unix:$TMP/off.sock"
else
  BIND_ON="127.0.0.1:18091" BIND_OFF="127.0.0.1:18092"
fi

start_gunicorn() {  # name bind metrics
  local name=$1 bind=$2 metrics=$3
  mkdir -p "$TMP/$name-prom"
  env -u PROMETHEUS_MULTIPROC_DIR \
    PYTHONPATH="$ROOT/app/src" \
    PROMETHEUS_MULTIPROC_DIR="$TMP/$name-prom" \
    WEBDEMO_BIND="$bind" WEBDEMO_WORKERS="$WORKERS" WEBDEMO_WORKER_CLASS="$WORKER_CLASS" \
    WEBDEMO_THREADS="$GTHREADS" WEBDEMO_METRICS_ENABLED="$metrics" WEBDEMO_LOG_LEVEL=warning \
    "$PYTHON" -m gunicorn -c python:webdemo.gunicorn_conf webdemo.wsgi:app \
    >"$TMP/$name.log" 2>&1 &
  PIDS+=($!)
}
start_gunicorn on "$BIND_ON" true
start_gunicorn off "$BIND_OFF" false

upstream_server() { echo "server $1;"; }
if [[ "$UPSTREAM_KEEPALIVE" -gt 0 ]]; then
  KEEPALIVE_BLOCK="keepalive $UPSTREAM_KEEPALIVE; keepalive_requests 10000; keepalive_timeout 4s;"
else
  KEEPALIVE_BLOCK=""
fi
mkdir -p "$TMP/nginx"
cat >"$TMP/nginx.conf" <<NGINX
worker_processes auto;
pid $TMP/nginx.pid;
error_log $TMP/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $TMP/nginx/body;
  proxy_temp_path $TMP/nginx/proxy;
  fastcgi_temp_path $TMP/nginx/fastcgi;
  uwsgi_temp_path $TMP/nginx/uwsgi;
  scgi_temp_path $TMP/nginx/scgi;
  upstream webdemo_on  { $(upstream_server "$BIND_ON") $KEEPALIVE_BLOCK }
  upstream webdemo_off { $(upstream_server "$BIND_OFF") $KEEPALIVE_BLOCK }
  proxy_http_version 1.1;
  proxy_set_header Connection "";
  proxy_set_header Host \$host;
  proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
  proxy_connect_timeout 2s;
  proxy_read_timeout 35s;
  server {
    listen 127.0.0.1:$PORT_STATIC;
    location / { default_type application/json; return 200 '{"success": true}'; }
  }
  server { listen 127.0.0.1:$PORT_ON;  location / { proxy_pass http://webdemo_on; } }
  server { listen 127.0.0.1:$PORT_OFF; location / { proxy_pass http://webdemo_off; } }
}
NGINX
"$NGINX" -t -q -c "$TMP/nginx.conf" -e "$TMP/nginx-error.log"
"$NGINX" -c "$TMP/nginx.conf" -e "$TMP/nginx-error.log" -g 'daemon off;' &
PIDS+=($!)

wait_ok() {  # url
  for _ in $(seq 100); do
    if curl -fsS -o /dev/null "$1" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "not ready: $1" >&2; tail -n 5 "$TMP"/*.log >&2; exit 1
}
wait_ok "http://127.0.0.1:$PORT_STATIC/"
wait_ok "http://127.0.0.1:$PORT_ON/api/v1/health"
wait_ok "http://127.0.0.1:$PORT_OFF/api/v1/health"

run_wrk() {  # name url round
  wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "$2" >"$TMP/wrk-$1-$3.txt"
  echo "== round $3 $1: $(grep -E 'Requests/sec' "$TMP/wrk-$1-$3.txt" | tr -s ' ')" \
       "p50 $(awk '$1=="50%"{print $2}' "$TMP/wrk-$1-$3.txt")" \
       "p99 $(awk '$1=="99%"{print $2}' "$TMP/wrk-$1-$3.txt")"
}
TARGETS=(
  "static http://127.0.0.1:$PORT_STATIC/"
  "health http://127.0.0.1:$PORT_ON/api/v1/health"
  "health-nometrics http://127.0.0.1:$PORT_OFF/api/v1/health"
  "info http://127.0.0.1:$PORT_ON/api/v1/info"
)
for t in "${TARGETS[@]}"; do wrk -t"$THREADS" -c"$CONNS" -d"$WARMUP" "${t#* }" >/dev/null; done
for round in $(seq "$ROUNDS"); do
  for t in "${TARGETS[@]}"; do run_wrk "${t%% *}" "${t#* }" "$round"; done
done

# Sanity: the metrics-on gunicorn counted the benchmark's requests.
curl -fsS "http://127.0.0.1:$PORT_ON/metrics" | grep -c '^http_request_duration_seconds_count' >/dev/null

mkdir -p "$HERE/results"
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
ROUNDS="$ROUNDS" DURATION="$DURATION" THREADS="$THREADS" CONNS="$CONNS" WORKERS="$WORKERS" \
WORKER_CLASS="$WORKER_CLASS" GTHREADS="$GTHREADS" UPSTREAM="$UPSTREAM" \
UPSTREAM_KEEPALIVE="$UPSTREAM_KEEPALIVE" \
"$PYTHON" - "$TMP" "$HERE/results/$STAMP" <<PY
import json, re, sys, platform, os
tmp, out = sys.argv[1], sys.argv[2]
def ms(v, unit):
    return float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
import glob, statistics
res = {}
for name in ("static", "health", "health-nometrics", "info"):
    rounds = []
    for path in sorted(glob.glob(f"{tmp}/wrk-{name}-*.txt")):
        text = open(path).read()
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
        p = {q: ms(*re.search(rf"\s{q}%\s+([\d.]+)(us|ms|s)\b", text).groups())
             for q in ("50", "99")}
        errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
        rounds.append({"rps": rps, "p50_ms": p["50"], "p99_ms": p["99"],
                       "non_2xx": int(errors.group(1)) if errors else 0,
                       "socket_errors": bool(re.search("Socket errors", text))})
    res[name] = {k: statistics.median(r[k] for r in rounds) for k in ("rps", "p50_ms", "p99_ms")}
    res[name]["non_2xx"] = sum(r["non_2xx"] for r in rounds)
    res[name]["socket_errors"] = any(r["socket_errors"] for r in rounds)
    res[name]["rounds"] = rounds
summary = {
    "health_over_static": res["health"]["rps"] / res["static"]["rps"],
    "metrics_cost_pct": 100 * (1 - res["health"]["rps"] / res["health-nometrics"]["rps"]),
}
meta = {k: os.environ.get(k) for k in ("ROUNDS", "DURATION", "THREADS", "CONNS", "WORKERS", "WORKER_CLASS",
                                       "GTHREADS", "UPSTREAM", "UPSTREAM_KEEPALIVE")}
meta["cpus"] = os.cpu_count(); meta["python"] = platform.python_version()
json.dump({"config": meta, "results": res, "summary": summary}, open(out + ".json", "w"), indent=2)
lines = ["median of rounds:", "", "| target | req/s | p50 ms | p99 ms | non-2xx |", "|---|---:|---:|---:|---:|"]
lines += [f"| {n} | {r['rps']:.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['non_2xx']} |"
          for n, r in res.items()]
lines += ["", f"health/static = {summary['health_over_static']:.3f}x "
              f"(target >= 0.10), metrics cost = {summary['metrics_cost_pct']:.1f}% (target <= 5)",
          "", "config: " + json.dumps(meta)]
open(out + ".md", "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
echo "results: $HERE/results/$STAMP.{json,md}"
