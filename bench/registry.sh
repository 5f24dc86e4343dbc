#!/usr/bin/env bash
# Registry load: Strata's registry (`strata registry serve`) beside Debian's
# docker-registry (distribution 2.8.2), in turn, same loads, on loopback
# (issue 6, ../shared/PEERS.md "Registry load").
#   seed:     one small image (OCI layout made here, pushed with skopeo), a 1 MiB
#             and a 100 MiB random blob, 10,000 tags in one repository and
#             10,000 repositories (a mount + a manifest PUT each, one curl
#             process per batch over keep-alive connections)
#   manifest: wrk -t1 -c16 GET manifest by tag (req/s, p99)
#   head:     ab -k -i -c16 -n20000 HEAD manifest, HEAD blob (req/s)
#   blobs:    wrk -t1 -c16 GET 1 MiB blob, GET 100 MiB blob (MB/s)
#   auth:     the same GET manifest with htpasswd, bcrypt cost 10 (req/s)
#   pages:    tags list at 10,000 tags and _catalog at 10,000 repositories,
#             n=100, ms per page (median over PAGES pages spread over the list)
# Each server runs with its access log off, started and stopped by its PID.
# Prints metric, strata, distribution, ratio (strata/distribution; for ms the
# ratio is distribution/strata, so above 1 is always Strata ahead).
# MODE=s3 is the scale-out mode: both servers keep their blobs in one versitygw (S3, built by
# scripts/install-clients.sh), distribution through its s3 driver and Strata through its S3 back end
# with its index in a throwaway PostgreSQL cluster. Seeding is smaller there (NTAGS=NREPOS=500 by
# default). Both serve blob bytes themselves (distribution's redirect to S3 is turned off, Strata's is
# off by default), so the blob rows compare proxies of the same store. After the one-replica run,
# REPLICAS (default 3) Strata replicas over the same bucket and database are measured behind haproxy
# (Debian's, balance roundrobin: each request of a keep-alive connection to the next replica), and one
# replica behind the same haproxy, which prices the proxy hop apart from the scale-out: GET/HEAD
# manifest, HEAD blob, GET 1 MiB and 100 MiB blob, each printed against distribution (direct). Then a
# big image (BIG_MB, default 200, of random bytes in one layer) is pushed and pulled back with skopeo:
# to one Strata, through the replicas, and to distribution; pulls with redirect off and on (presigned
# GETs straight from versitygw, distribution's redirect likewise).
# Usage: bench/registry.sh   (as root, Debian 12). Env: MODE=local|s3 DURATION=10s PAGES=20
# ABN=20000 (requests per ab run) REPLICAS=3 BIG_MB=200
# STRATA_BIN=/path/to/strata (else built here) WORK=/dev/shm (where both roots go:
# tmpfs by default, so seeding 30,000 writes is not bound by fsync; with WORK=/var/tmp
# Strata's fsync per manifest put makes seeding take ~1 min, distribution does not fsync)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH
DURATION=${DURATION:-10s}
PAGES=${PAGES:-20}
MODE=${MODE:-local}
ABN=${ABN:-20000}
REPLICAS=${REPLICAS:-3}
if [[ $MODE == s3 ]]; then NTAGS=${NTAGS:-500} NREPOS=${NREPOS:-500}; fi
NTAGS=${NTAGS:-10000}
NREPOS=${NREPOS:-10000}

need=()
for t in docker-registry:docker-registry wrk:wrk ab:apache2-utils htpasswd:apache2-utils skopeo:skopeo jq:jq bc:bc curl:curl python3:python3; do
  command -v "${t%%:*}" >/dev/null || need+=("${t#*:}")
done
if [[ $MODE == s3 ]]; then command -v haproxy >/dev/null || need+=(haproxy); fi
if ((${#need[@]})); then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
if [[ -n ${STRATA_BIN:-} ]]; then S=$STRATA_BIN; else CGO_ENABLED=0 go build -o bin/strata ./cmd/strata; S=$PWD/bin/strata; fi

work=$(mktemp -d "${WORK:-/dev/shm}/strata-registry-bench.XXXXXX")
PID=
PIDS=() # the replicas and haproxy of a scale-out run
VPID=
PGDATA_DIR=
stop_server() {
  if [[ -n $PID ]]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; PID=; fi
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  PIDS=()
}
cleanup() {
  stop_server
  if [[ -n $VPID ]]; then kill "$VPID" 2>/dev/null || true; wait "$VPID" 2>/dev/null || true; fi
  if [[ -n $PGDATA_DIR ]]; then runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D "$PGDATA_DIR" -m immediate -w stop >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# ---- MODE=s3: one versitygw for both, and PostgreSQL for Strata's index ------------
if [[ $MODE == s3 ]]; then
  VGW=${STRATA_TOOLS_BIN:-/var/cache/strata-tools/bin}/versitygw
  [[ -x $VGW ]] || scripts/install-clients.sh >&2
  chmod 755 "$work"
  mkdir -p "$work/s3data/strata" "$work/s3data/dist"
  S3PORT=$(free_port)
  "$VGW" --port "127.0.0.1:$S3PORT" --access bench --secret bench-secret posix "$work/s3data" >"$work/versitygw.log" 2>&1 &
  VPID=$!
  mkdir -p "$work/pg" && chown postgres:postgres "$work/pg"
  PGDATA_DIR=$work/pg/data
  PGPORT=$(free_port)
  runuser -u postgres -- /usr/lib/postgresql/15/bin/initdb -D "$PGDATA_DIR" --no-sync -A trust -U postgres -E UTF8 --locale=C >/dev/null
  runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D "$PGDATA_DIR" -l "$work/pg/log" -w \
    -o "-c fsync=off -c synchronous_commit=off -c listen_addresses=127.0.0.1 -p $PGPORT -k $work/pg" start >/dev/null
  psql -q -h 127.0.0.1 -p "$PGPORT" -U postgres -c 'CREATE DATABASE strata' postgres
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$S3PORT/" && break; sleep 0.05; done
fi
sha() { sha256sum "$1" | cut -d' ' -f1; }
size() { stat -c %s "$1"; }
OCI_MANIFEST=application/vnd.oci.image.manifest.v1+json

# ---- inputs, the same for both servers -------------------------------------
# A busybox-like image as an OCI layout: one gzipped layer, a config, a manifest.
mkdir -p "$work/rootfs/bin" "$work/rootfs/etc" "$work/layout/blobs/sha256"
if [[ -x /bin/busybox ]]; then cp /bin/busybox "$work/rootfs/bin/busybox"; else head -c 1M /dev/urandom >"$work/rootfs/bin/busybox"; fi
ln -s busybox "$work/rootfs/bin/sh"
echo 'root:x:0:0:root:/root:/bin/sh' >"$work/rootfs/etc/passwd"
tar -C "$work/rootfs" --sort=name --mtime=@0 --owner=0 --group=0 -cf "$work/layer.tar" .
diffid=$(sha "$work/layer.tar")
gzip -n -c "$work/layer.tar" >"$work/layer.tgz"
blob() { local d; d=$(sha "$1"); cp "$1" "$work/layout/blobs/sha256/$d"; echo "$d"; }
ldg=$(blob "$work/layer.tgz")
printf '{"architecture":"amd64","os":"linux","config":{"Cmd":["/bin/sh"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$diffid" >"$work/config.json"
cdg=$(blob "$work/config.json")
printf '{"schemaVersion":2,"mediaType":"%s","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%d}]}' \
  "$OCI_MANIFEST" "$cdg" "$(size "$work/config.json")" "$ldg" "$(size "$work/layer.tgz")" >"$work/manifest.json"
mdg=$(blob "$work/manifest.json")
printf '{"schemaVersion":2,"manifests":[{"mediaType":"%s","digest":"sha256:%s","size":%d,"annotations":{"org.opencontainers.image.ref.name":"v1"}}]}' \
  "$OCI_MANIFEST" "$mdg" "$(size "$work/manifest.json")" >"$work/layout/index.json"
echo '{"imageLayoutVersion":"1.0.0"}' >"$work/layout/oci-layout"
head -c 1M /dev/urandom >"$work/blob1m"
head -c 100M /dev/urandom >"$work/blob100m"
b1=sha256:$(sha "$work/blob1m")
b100=sha256:$(sha "$work/blob100m")
PASS=bench-secret
htpasswd -Bbc -C 10 "$work/htpasswd" bench "$PASS" 2>/dev/null
AUTH="Authorization: Basic $(printf 'bench:%s' "$PASS" | base64)"

# ---- the servers -------------------------------------------------------------
# start NAME [auth]: starts the server on a free loopback port with its own root
# (kept between the anonymous and the htpasswd run); sets URL and PID.
start() {
  local name=$1 auth=${2:-} port; port=$(free_port)
  URL=http://127.0.0.1:$port
  mkdir -p "$work/$name"
  case $name in
  strata)
    "$S" registry serve --addr "127.0.0.1:$port" --root "$work/strata/root" --access-log none "${BACKENDS[@]}" \
      ${REDIRECT:+--storage-s3-redirect} ${auth:+--htpasswd "$work/htpasswd" --realm bench} 2>"$work/strata/log" &
    PID=$! ;;
  distribution)
    cat >"$work/distribution/config.yml" <<YML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
$(if [[ $MODE == s3 ]]; then printf '  s3:\n    accesskey: bench\n    secretkey: bench-secret\n    region: us-east-1\n    regionendpoint: http://127.0.0.1:%s\n    bucket: dist\n    secure: false\n    v4auth: true\n    rootdirectory: /reg\n  redirect:\n    disable: %s\n' "$S3PORT" "$([[ -n ${REDIRECT:-} ]] && echo false || echo true)"
  else printf '  filesystem:\n    rootdirectory: %s\n' "$work/distribution/root"; fi)
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: 127.0.0.1:$port
YML
    if [[ -n $auth ]]; then
      printf 'auth:\n  htpasswd:\n    realm: bench\n    path: %s\n' "$work/htpasswd" >>"$work/distribution/config.yml"
    fi
    # distribution's aws-sdk v1 panics on an AWS_CA_BUNDLE it cannot use (this machine sets one)
    env -u AWS_CA_BUNDLE /usr/bin/docker-registry serve "$work/distribution/config.yml" 2>"$work/distribution/log" &
    PID=$! ;;
  esac
  wait_up "$URL" "$PID" "$work/$name/log"
}

# wait_up URL PID LOG: polls URL/v2/ until it answers; prints LOG and exits if PID dies first.
wait_up() {
  for _ in $(seq 200); do
    curl -s -o /dev/null "$1/v2/" && return 0
    kill -0 "$2" 2>/dev/null || break
    sleep 0.05
  done
  echo "server at $1 did not start:" >&2; cat "$3" >&2; exit 1
}

# start_replicas N: N Strata replicas over the one bucket and database (each its own
# empty --root), behind haproxy round-robin; sets URL (haproxy's) and STATS_URL.
start_replicas() {
  local n=$1 i port servers=
  mkdir -p "$work/replicas"
  for ((i = 0; i < n; i++)); do
    port=$(free_port)
    "$S" registry serve --addr "127.0.0.1:$port" --root "$work/replicas/root$i" --access-log none "${BACKENDS[@]}" \
      2>"$work/replicas/log$i" &
    PIDS+=($!)
    wait_up "http://127.0.0.1:$port" "$!" "$work/replicas/log$i"
    servers+="  server r$i 127.0.0.1:$port"$'\n'
  done
  port=$(free_port)
  local sport; sport=$(free_port)
  cat >"$work/replicas/haproxy.cfg" <<CFG
global
  maxconn 4096
defaults
  mode http
  timeout connect 5s
  timeout client 120s
  timeout server 120s
frontend registry
  bind 127.0.0.1:$port
  default_backend replicas
backend replicas
  balance roundrobin
  http-reuse always
$servers
listen stats
  bind 127.0.0.1:$sport
  stats enable
  stats uri /stats
CFG
  haproxy -f "$work/replicas/haproxy.cfg" -db 2>"$work/replicas/haproxy.log" &
  PIDS+=($!)
  URL=http://127.0.0.1:$port
  STATS_URL="http://127.0.0.1:$sport/stats;csv"
  wait_up "$URL" "$!" "$work/replicas/haproxy.log"
}

# served: requests each replica answered, from haproxy's stats (svname, stot).
served() { curl -sf "$STATS_URL" | awk -F, '$1=="replicas" && $2 ~ /^r[0-9]+$/ {printf "%s%s=%s", sep, $2, $8; sep=" "}'; }

# put_blob REPO FILE: a two-request upload (POST, then PUT with the body).
put_blob() {
  local loc d; d=sha256:$(sha "$2")
  loc=$(curl -sf -X POST -D - -o /dev/null "$URL/v2/$1/blobs/uploads/" | tr -d '\r' | awk 'tolower($1)=="location:"{print $2}')
  [[ $loc == http* ]] || loc=$URL$loc
  [[ $loc == *\?* ]] && loc="$loc&digest=$d" || loc="$loc?digest=$d"
  curl -sf -X PUT -H 'Content-Type: application/octet-stream' --data-binary @"$2" "$loc" -o /dev/null
}

# seed: the image, both blobs, 10,000 tags, 10,000 repositories. Batches are
# one curl process (URL globbing, --parallel over keep-alive connections).
seed() {
  skopeo copy -q --dest-tls-verify=false "oci:$work/layout:v1" "docker://${URL#http://}/bench/app:v1" >/dev/null
  put_blob bench/app "$work/blob1m"
  put_blob bench/app "$work/blob100m"
  local t0; t0=$(date +%s.%N)
  curl -sf --no-progress-meter --parallel --parallel-max 8 -o /dev/null -H "Content-Type: $OCI_MANIFEST" \
    -T "$work/manifest.json" "$URL/v2/bench/app/manifests/t[10001-$((10000 + NTAGS))]" >/dev/null
  curl -sf --no-progress-meter --parallel --parallel-max 8 -o /dev/null -X POST \
    "$URL/v2/r[10001-$((10000 + NREPOS))]/app/blobs/uploads/?mount=sha256:$cdg&from=bench/app" \
    "$URL/v2/r[10001-$((10000 + NREPOS))]/app/blobs/uploads/?mount=sha256:$ldg&from=bench/app" >/dev/null
  curl -sf --no-progress-meter --parallel --parallel-max 8 -o /dev/null -H "Content-Type: $OCI_MANIFEST" \
    -T "$work/manifest.json" "$URL/v2/r[10001-$((10000 + NREPOS))]/app/manifests/v1" >/dev/null
  SEED_S=$(echo "$(date +%s.%N) - $t0" | bc)
}

# ---- measurements --------------------------------------------------------------
declare -A R
wrk_rps() { # URL [header]: prints "req/s p99ms"
  local out
  out=$(wrk -t1 -c16 -d"$DURATION" --latency ${2:+-H "$2"} -H "Accept: $OCI_MANIFEST" "$1")
  if grep -q 'Non-2xx' <<<"$out"; then echo "non-2xx responses from $1:" >&2; echo "$out" >&2; fi
  awk '/Requests\/sec/{r=$2} /^ +99%/{p=$2} END{
    if (p ~ /us$/) {sub(/us$/,"",p); p/=1000} else if (p ~ /ms$/) {sub(/ms$/,"",p)} else if (p ~ /s$/) {sub(/s$/,"",p); p*=1000}
    printf "%.1f %.1f\n", r, p}' <<<"$out"
}
wrk_mbs() { # URL: MB/s (10^6) read, from wrk's Transfer/sec (1024-based units), which counts the bytes
  # of responses still in flight: a 100 MiB GET on 16 connections may complete none in a short run
  wrk -t1 -c16 -d"$DURATION" "$1" | awk '/Transfer\/sec/{v=$2; m=1
    if (v ~ /GB$/) m=1073741824; else if (v ~ /MB$/) m=1048576; else if (v ~ /KB$/) m=1024
    sub(/[KMG]?B$/,"",v); printf "%.1f\n", v*m/1000000}'
}
ab_rps() { # URL: HEAD req/s
  local out
  out=$(ab -k -i -q -c16 -n"$ABN" -H "Accept: $OCI_MANIFEST" "$1" 2>&1)
  if grep -q 'Non-2xx' <<<"$out"; then echo "non-2xx responses from $1:" >&2; grep -E 'Non-2xx|Failed' <<<"$out" >&2; fi
  awk '/Requests per second/{printf "%.1f\n", $4}' <<<"$out"
}
# page_ms PATH PREFIX FIRST COUNT [SUFFIX]: median ms of PAGES pages of n=100, the first
# page and pages starting after evenly spread names, on one keep-alive connection.
page_ms() {
  local path=$1 prefix=$2 first=$3 count=$4 suffix=${5:-} urls=() i step
  step=$((count / PAGES))
  urls+=(-o /dev/null "$URL$path?n=100")
  for ((i = 1; i < PAGES; i++)); do urls+=(-o /dev/null "$URL$path?n=100&last=$prefix$((first + i * step))$suffix"); done
  curl -sf -w '%{time_total}\n' "${urls[@]}" |
    sort -n | awk '{a[NR]=$1*1000} END{printf "%.3f\n", a[int((NR+1)/2)]}'
}

# measure NAME: GET/HEAD manifest, HEAD blob, GET 1 MiB / 100 MiB blob at $URL.
measure() {
  local name=$1
  read -r R[$name,man] R[$name,man_p99] < <(wrk_rps "$URL/v2/bench/app/manifests/v1")
  R[$name,head_man]=$(ab_rps "$URL/v2/bench/app/manifests/v1")
  R[$name,head_blob]=$(ab_rps "$URL/v2/bench/app/blobs/$b1")
  R[$name,blob1]=$(wrk_mbs "$URL/v2/bench/app/blobs/$b1")
  R[$name,blob100]=$(wrk_mbs "$URL/v2/bench/app/blobs/$b100")
}

run() {
  local name=$1
  echo "== $name" >&2
  start "$name"
  seed
  R[$name,seed]=$(echo "($NTAGS + 3 * $NREPOS) / $SEED_S" | bc -l)
  # the count a tags page returns (distribution 2.8 ignores n on tags lists)
  R[$name,tags_n]=$(curl -sf "$URL/v2/bench/app/tags/list?n=100" | jq '.tags | length')
  R[$name,tags]=$(page_ms /v2/bench/app/tags/list t 10001 "$NTAGS")
  R[$name,catalog]=$(page_ms /v2/_catalog r 10001 "$NREPOS" /app)
  measure "$name"
  stop_server
  start "$name" auth
  curl -sf -o /dev/null -H "$AUTH" "$URL/v2/" || { echo "$name: auth check failed" >&2; exit 1; }
  read -r R[$name,auth] R[$name,auth_p99] < <(wrk_rps "$URL/v2/bench/app/manifests/v1" "$AUTH")
  stop_server
}

BACKENDS=()
if [[ $MODE == s3 ]]; then
  BACKENDS=(--storage-s3-endpoint "http://127.0.0.1:$S3PORT" --storage-s3-bucket strata --storage-s3-force-path-style
    --storage-s3-access-key bench --storage-s3-secret-key bench-secret
    --database "postgres://postgres@127.0.0.1:$PGPORT/strata?sslmode=disable")
fi
# MODE=s3's big image: BIG_MB of random bytes in one gzipped layer, an OCI layout skopeo pushes
# (to an empty repository) and pulls back into an OCI directory (every digest checked), seconds.
big_layout() {
  mkdir -p "$work/bigfs" "$work/big/blobs/sha256"
  head -c "${BIG_MB}M" /dev/urandom >"$work/bigfs/data"
  tar -C "$work/bigfs" -cf "$work/big.tar" data && rm -rf "$work/bigfs"
  local bdiff bl bc bm; bdiff=$(sha "$work/big.tar")
  gzip -1 -n -c "$work/big.tar" >"$work/big.tgz" && rm "$work/big.tar"
  bl=$(sha "$work/big.tgz"); mv "$work/big.tgz" "$work/big/blobs/sha256/$bl"
  printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$bdiff" >"$work/bigcfg.json"
  bc=$(sha "$work/bigcfg.json"); cp "$work/bigcfg.json" "$work/big/blobs/sha256/$bc"
  printf '{"schemaVersion":2,"mediaType":"%s","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%d}]}' \
    "$OCI_MANIFEST" "$bc" "$(size "$work/bigcfg.json")" "$bl" "$(size "$work/big/blobs/sha256/$bl")" >"$work/bigman.json"
  bm=$(sha "$work/bigman.json"); cp "$work/bigman.json" "$work/big/blobs/sha256/$bm"
  printf '{"schemaVersion":2,"manifests":[{"mediaType":"%s","digest":"sha256:%s","size":%d,"annotations":{"org.opencontainers.image.ref.name":"v1"}}]}' \
    "$OCI_MANIFEST" "$bm" "$(size "$work/bigman.json")" >"$work/big/index.json"
  echo '{"imageLayoutVersion":"1.0.0"}' >"$work/big/oci-layout"
}
secs() { local t0; t0=$(date +%s.%N); "$@" >/dev/null; echo "$(date +%s.%N) - $t0" | bc; }
big_push() { R[$1,push]=$(secs skopeo copy -q --dest-tls-verify=false "oci:$work/big:v1" "docker://${URL#http://}/big/$1:v1"); }
big_pull() { # NAME REPO
  rm -rf "$work/bigout"
  R[$1,pull]=$(secs skopeo copy -q --src-tls-verify=false "docker://${URL#http://}/big/$2:v1" "oci:$work/bigout:v1")
}
BIG_MB=${BIG_MB:-200}

t_start=$SECONDS
run strata
if [[ $MODE == s3 ]]; then # over what the one-replica run seeded
  big_layout
  for n in 1 "$REPLICAS"; do
    echo "== strata, $n replica(s) behind haproxy" >&2
    start_replicas "$n"
    measure "strata_rr$n"
    R[strata_rr$n,served]=$(served)
    if [[ $n == "$REPLICAS" ]]; then big_push "strata_rr$n" && big_pull "strata_rr$n" "strata_rr$n"; fi
    stop_server
  done
  echo "== big image ($BIG_MB MiB layer): strata, then distribution, redirect off and on" >&2
  start strata && big_push strata && big_pull strata strata && stop_server
  REDIRECT=1 start strata && big_pull strata_redir strata && stop_server
fi
run distribution
if [[ $MODE == s3 ]]; then
  start distribution && big_push distribution && big_pull distribution distribution && stop_server
  REDIRECT=1 start distribution && big_pull distribution_redir distribution && stop_server
fi

ratio() { # A B: A/B, 0 when B is 0 (a run too short for one answer)
  if [[ $(echo "$2 == 0" | bc -l) == 1 ]]; then echo 0; else echo "scale=2; $1 / $2" | bc -l; fi
}
row() { # label key unit higher-is-better(1|0)
  local s=${R[strata,$2]} d=${R[distribution,$2]} r
  if [[ $4 == 1 ]]; then r=$(ratio "$s" "$d"); else r=$(ratio "$d" "$s"); fi
  local f=%12.1f g=%14.1f
  [[ $3 == ms ]] && f=%12.3f g=%14.3f
  printf "%-44s $f $g %7.2fx\n" "$1 ($3)" "$s" "$d" "$r"
}
echo
printf '%-44s %12s %14s %8s\n' metric strata distribution ratio
row "GET manifest by tag, 16 conns" man req/s 1
row "  p99 latency" man_p99 ms 0
row "HEAD manifest (ab -k)" head_man req/s 1
row "HEAD blob (ab -k)" head_blob req/s 1
row "GET 1 MiB blob" blob1 MB/s 1
row "GET 100 MiB blob" blob100 MB/s 1
row "GET manifest, htpasswd bcrypt cost 10" auth req/s 1
row "  p99 latency" auth_p99 ms 0
row "tags list page, $NTAGS tags, n=100" tags ms 0
row "_catalog page, $NREPOS repos, n=100" catalog ms 0
row "seeding: PUT manifest / mount, 8 conns" seed writes/s 1
printf '%-44s %12s %14s\n' "tags returned for n=100" "${R[strata,tags_n]}" "${R[distribution,tags_n]}"
printf '%-44s %11.0f%% %13.0f%%\n' "authenticated / anonymous GET manifest" \
  "$(echo "100 * ${R[strata,auth]} / ${R[strata,man]}" | bc -l)" "$(echo "100 * ${R[distribution,auth]} / ${R[distribution,man]}" | bc -l)"
echo "(mode $MODE; ratio: strata/distribution for rates, distribution/strata for times; total $((SECONDS - t_start)) s)"
if [[ $MODE == s3 ]]; then
  n=$REPLICAS
  echo
  printf '%-30s %10s %10s %10s %12s %9s %9s %9s\n' "scale-out (same versitygw)" strata-1 "1+haproxy" "$n+haproxy" distribution 1/dist "$n/dist" "$n/1+hap"
  srow() { # label key unit
    local a=${R[strata,$2]} b=${R[strata_rr1,$2]} c=${R[strata_rr$n,$2]} d=${R[distribution,$2]}
    printf "%-30s %10.1f %10.1f %10.1f %12.1f %8.2fx %8.2fx %8.2fx\n" "$1 ($3)" "$a" "$b" "$c" "$d" \
      "$(ratio "$a" "$d")" "$(ratio "$c" "$d")" "$(ratio "$c" "$b")"
  }
  srow "GET manifest, 16 conns" man req/s
  srow "HEAD manifest (ab -k)" head_man req/s
  srow "HEAD blob (ab -k)" head_blob req/s
  srow "GET 1 MiB blob" blob1 MB/s
  srow "GET 100 MiB blob" blob100 MB/s
  echo "requests served per replica (haproxy stats): ${R[strata_rr$n,served]}"
  echo
  printf '%-44s %12s %14s %8s\n' "big image, $BIG_MB MiB layer, skopeo (s)" strata distribution ratio
  brow() { printf '%-44s %12.2f %14.2f %7.2fx\n' "$1" "$2" "$3" "$(ratio "$3" "$2")"; }
  brow "push, 1 replica" "${R[strata,push]}" "${R[distribution,push]}"
  brow "push, $n replicas behind haproxy" "${R[strata_rr$n,push]}" "${R[distribution,push]}"
  brow "pull, redirect off" "${R[strata,pull]}" "${R[distribution,pull]}"
  brow "pull, redirect on (presigned S3 GETs)" "${R[strata_redir,pull]}" "${R[distribution_redir,pull]}"
  brow "pull, $n replicas behind haproxy, redirect off" "${R[strata_rr$n,pull]}" "${R[distribution,pull]}"
fi
