#!/usr/bin/env bash
# push and pull of a big image through a loopback registry, Strata beside
# skopeo and docker on the same input and the same registry, in turn.
#   image: a base layer (BASE_TAR, e.g. a debootstrap'ed Debian rootfs tar, else a
#   busybox rootfs) + RANDOM_MB of random bytes + COMPRESSIBLE_MB of compressible
#   data, three gzipped layers put into Debian's docker-registry (distribution 2.8)
#   with skopeo.
#   pull:    strata pull (fresh root; fetch, verify, gunzip, unpack)
#            vs docker pull (after rmi) and skopeo copy to an OCI dir (no unpack)
#   push:    strata push to an empty registry (blobs kept: upload only), strata push
#            with the layer blobs deleted (rebuilt from the snapshots, pgzip),
#            re-push when every layer exists
#            vs docker push (gzip on one core), skopeo copy from the OCI dir
#   resume:  strata pull / push interrupted (kill -9, Ctrl-C) at 50%, then re-run:
#            the bytes each run moves (counted by a TCP proxy) as shares of the image.
# Medians of RUNS runs and the ratios strata/peer. Peers that are not installed
# are skipped (apt-get install -y docker-registry skopeo docker.io pigz jq).
# Usage: bench/pushpull.sh   (as root). Env: RANDOM_MB=500 COMPRESSIBLE_MB=200
# RUNS=3 BASE_TAR=/path/to/rootfs.tar STRATA_BIN=/path/to/strata (else built here)
# STRATA_OLD=/path/to/an/older/strata (its pull is timed in turn with the new
# one's in each run, and the ratio new/old printed: a change's effect on speed)
# PHASES="pull push resume docker" (a subset runs only those)
# PORTS=5600-5699 (loopback ports used) DOCKERD_NAME=bench-docker-pull (the
# dockerd's data root /var/lib/NAME, exec root /run/NAME, /run/NAME.pid and
# /run/NAME.sock, so that it never meets another dockerd)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
export PATH=/usr/local/go/bin:$PATH
RANDOM_MB=${RANDOM_MB:-500}
COMPRESSIBLE_MB=${COMPRESSIBLE_MB:-200}
RUNS=${RUNS:-3}
BASE_TAR=${BASE_TAR:-}
PHASES=${PHASES:-pull push resume docker}
DOCKERD_NAME=${DOCKERD_NAME:-bench-docker-pull}
want() { [[ " $PHASES " == *" $1 "* ]]; }
for tool in docker-registry skopeo pigz jq bc; do
  command -v $tool >/dev/null || apt-get install -y docker-registry skopeo pigz jq bc >/dev/null
done
if [[ -n ${STRATA_BIN:-} ]]; then S=$STRATA_BIN; else go build -o bin/strata ./cmd/strata; S=$PWD/bin/strata; fi
work=$(mktemp -d /var/tmp/strata-pushpull.XXXXXX)
pids=()
dockerd_started=""
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  [[ -z $dockerd_started ]] || rm -rf "/var/lib/$DOCKERD_NAME" "/run/$DOCKERD_NAME" "/run/$DOCKERD_NAME.sock" "/run/$DOCKERD_NAME.pid"
  rm -rf "$work"
}
trap cleanup EXIT

median() { sort -n | awk '{a[NR]=$1} END {printf "%.3f\n", a[int((NR+1)/2)]}'; }
# Ports come from PORTS (first-last, default 5600-5699), the range this
# bench may use on a shared machine; a port in use is skipped.
PORTS=${PORTS:-5600-5699}

# start_registry NAME: a docker-registry on a free loopback port with empty
# storage; sets REG (host:port) and REG_PID.
start_registry() {
  local name=$1 port; port=$(free_port)
  rm -rf "$work/$name"; mkdir -p "$work/$name"
  cat > "$work/$name/config.yml" <<YML
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $work/$name/data
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: 127.0.0.1:$port
YML
  docker-registry serve "$work/$name/config.yml" >"$work/$name/log" 2>&1 &
  REG_PID=$!; pids+=("$REG_PID"); REG=127.0.0.1:$port
  for i in $(seq 1 100); do curl -sf "http://$REG/v2/" >/dev/null && return 0; sleep 0.05; done
  echo "registry $name did not start" >&2; cat "$work/$name/log" >&2; return 1
}
stop_registry() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

echo "== making the image: base + ${RANDOM_MB} MiB random + ${COMPRESSIBLE_MB} MiB compressible"
mkdir -p "$work/l"
if [[ -n $BASE_TAR && -f $BASE_TAR ]]; then
  cp "$BASE_TAR" "$work/l/base.tar"; echo "base: $BASE_TAR"
else
  b=$work/bb; mkdir -p "$b/bin" "$b/etc"; cp /bin/busybox "$b/bin/"
  for a in $(/bin/busybox --list); do [[ $a == busybox ]] || ln -s busybox "$b/bin/$a"; done
  echo 'root:x:0:0:root:/root:/bin/sh' > "$b/etc/passwd"
  tar -C "$b" -cf "$work/l/base.tar" .; echo "base: busybox (set BASE_TAR for a Debian rootfs)"
fi
d=$work/rand; mkdir -p "$d/opt/rand"
for i in $(seq 1 $((RANDOM_MB / 50))); do head -c $((50 << 20)) /dev/urandom > "$d/opt/rand/r$i"; done
tar -C "$d" -cf "$work/l/rand.tar" .; rm -rf "$d"
d=$work/comp; mkdir -p "$d/opt/text"
tar -C /usr -cf "$work/usr.tar" share/doc share/man share/locale lib 2>/dev/null || true
for i in $(seq 1 $((COMPRESSIBLE_MB / 50))); do
  f=$d/opt/text/c$i; : > "$f"
  while (( $(stat -c %s "$f") < (50 << 20) )); do cat "$work/usr.tar" >> "$f"; done
  truncate -s $((50 << 20)) "$f"
done
rm -f "$work/usr.tar"
tar -C "$d" -cf "$work/l/comp.tar" .; rm -rf "$d"
oci=$work/oci; mkdir -p "$oci/blobs/sha256"
echo '{"imageLayoutVersion":"1.0.0"}' > "$oci/oci-layout"
layers=(); diffids=(); total=0
for l in base rand comp; do
  diffids+=("sha256:$(sha256sum < "$work/l/$l.tar" | cut -d' ' -f1)")
  pigz -6 -n -c "$work/l/$l.tar" > "$work/l/$l.tgz"
  dg=$(sha256sum < "$work/l/$l.tgz" | cut -d' ' -f1); sz=$(stat -c %s "$work/l/$l.tgz")
  mv "$work/l/$l.tgz" "$oci/blobs/sha256/$dg"
  layers+=("{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:$dg\",\"size\":$sz}")
  total=$((total + sz))
done
unc=$(cat "$work"/l/*.tar | wc -c); rm -rf "$work/l"
cfg=$(jq -cn --arg a "$(go env GOARCH)" --argjson d "$(printf '%s\n' "${diffids[@]}" | jq -R . | jq -cs .)" \
  '{architecture:$a, os:"linux", config:{Cmd:["/bin/sh"]}, rootfs:{type:"layers", diff_ids:$d}}')
cdg=$(printf '%s' "$cfg" | sha256sum | cut -d' ' -f1); printf '%s' "$cfg" > "$oci/blobs/sha256/$cdg"
man=$(printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%d},"layers":[%s]}' \
  "$cdg" "${#cfg}" "$(IFS=,; echo "${layers[*]}")")
mdg=$(printf '%s' "$man" | sha256sum | cut -d' ' -f1); printf '%s' "$man" > "$oci/blobs/sha256/$mdg"
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%d,"annotations":{"org.opencontainers.image.ref.name":"v1"}}]}' \
  "$mdg" "${#man}" > "$oci/index.json"
echo "image: $unc bytes uncompressed, $total bytes gzipped, in 3 layers"

start_registry src; SRC=$REG
skopeo copy -q --dest-tls-verify=false "oci:$oci:v1" "docker://$SRC/big:v1"
declare -A T

DOCKER=/usr/bin/docker
have_docker() { want docker && [[ -x /usr/sbin/dockerd && -x $DOCKER ]]; }
D=""
start_dockerd() {
  # a fresh data root: what an earlier run left must not make a pull "Already exists"
  rm -rf "/var/lib/$DOCKERD_NAME"; dockerd_started=1
  dockerd --data-root "/var/lib/$DOCKERD_NAME" --exec-root "/run/$DOCKERD_NAME" --pidfile "/run/$DOCKERD_NAME.pid" \
    --storage-driver overlay2 --iptables=false --ip-masq=false --bridge=none \
    -H "unix:///run/$DOCKERD_NAME.sock" >"$work/dockerd.log" 2>&1 &
  pids+=("$!")
  D="$DOCKER -H unix:///run/$DOCKERD_NAME.sock"
  for i in $(seq 1 100); do $D version >/dev/null 2>&1 && break; sleep 0.2; done
}
have_docker && start_dockerd

if want pull; then
echo "== pull"
# With docker, each run pulls with strata and then with docker, so that both
# see the same load on a shared machine; the ratio is also given run by run.
# The machine's floor for a pull: gunzip + sha256 of every layer (pigz -d uses
# one core for inflate; openssl's sha256 uses SHA-NI as Go's does, coreutils'
# does not), no network, no unpack; measured in each run too.
sum=sha256sum; command -v openssl >/dev/null && sum="openssl dgst -sha256"
runs=(); druns=(); pairs=(); floors=(); oruns=(); opairs=()
for r in $(seq 1 "$RUNS"); do
  # Each timed pull from the same state (fresh_root: written back, caches
  # dropped, the registry's files read in): strata fsyncs its blobs, and on
  # ext4 that would also wait for the writeback of the previous docker
  # pull's files; a store just removed slows the next one's inode allocation.
  fresh_root "$work/sp" "$S" "$work/src/data"; runs+=("$(secs $S --root "$work/sp" pull "$SRC/big:v1")")
  if [[ -n ${STRATA_OLD:-} ]]; then
    fresh_root "$work/op" "$STRATA_OLD" "$work/src/data"; oruns+=("$(secs "$STRATA_OLD" --root "$work/op" pull "$SRC/big:v1")"); rm -rf "$work/op"
    opairs+=("$(ratio "${runs[-1]}" "${oruns[-1]}")")
  fi
  floors+=("$(secs bash -c "for f in $oci/blobs/sha256/*; do pigz -dc \$f | $sum >/dev/null; done")")
  if [[ -n $D ]]; then
    $D rmi -f "$SRC/big:v1" >/dev/null 2>&1 || true
    fresh_root "" "$work/src/data"
    druns+=("$(secs $D pull "$SRC/big:v1")")
    pairs+=("$(ratio "${runs[-1]}" "${druns[-1]}")")
  fi
done
T[spull]=$(printf '%s\n' "${runs[@]}" | median)
echo "strata pull: ${T[spull]} s ($(echo "scale=0; $total / ${T[spull]} / 1000000" | bc) MB/s gzipped, $(echo "scale=0; $unc / ${T[spull]} / 1000000" | bc) MB/s unpacked)   runs: ${runs[*]}"
if [[ -n $D ]]; then
  T[dpull]=$(printf '%s\n' "${druns[@]}" | median)
  echo "docker pull (in turn with strata's): ${T[dpull]} s   runs: ${druns[*]}"
  echo "ratio strata/docker pull: $(ratio "${T[spull]}" "${T[dpull]}") (medians); run by run: ${pairs[*]}"
fi
if [[ -n ${STRATA_OLD:-} ]]; then
  echo "old strata pull ($STRATA_OLD, in turn): $(printf '%s\n' "${oruns[@]}" | median) s   ratio new/old: $(ratio "${T[spull]}" "$(printf '%s\n' "${oruns[@]}" | median)") (medians); run by run: ${opairs[*]}"
fi
runs=()
for r in $(seq 1 "$RUNS"); do fresh_root "$work/so" "$work/src/data"; runs+=("$(secs skopeo copy -q --src-tls-verify=false "docker://$SRC/big:v1" "oci:$work/so:v1")"); done
T[kpull]=$(printf '%s\n' "${runs[@]}" | median); rm -rf "$work/so"
echo "skopeo copy to an OCI dir (no unpack): ${T[kpull]} s   ratio strata/skopeo $(ratio "${T[spull]}" "${T[kpull]}")"
floor=$(printf '%s\n' "${floors[@]}" | median)
echo "floor (pigz -d | $sum of every blob, serial): $floor s   ratio strata/floor $(ratio "${T[spull]}" "$floor")   runs: ${floors[*]}"

else
  $S --root "$work/sp" pull "$SRC/big:v1" >/dev/null 2>&1
fi
$S --root "$work/sp" tag "$SRC/big:v1" big:local >/dev/null
if want push; then
echo "== push"
runs=(); reruns=()
for r in $(seq 1 "$RUNS"); do
  start_registry dst; DST=$REG
  $S --root "$work/sp" tag big:local "$DST/big:v1" >/dev/null
  runs+=("$(secs $S --root "$work/sp" push "$DST/big:v1")")
  reruns+=("$(secs $S --root "$work/sp" push "$DST/big:v1")")
  $S --root "$work/sp" rmi "$DST/big:v1" >/dev/null
  stop_registry "$REG_PID"
done
T[spush]=$(printf '%s\n' "${runs[@]}" | median); T[srepush]=$(printf '%s\n' "${reruns[@]}" | median)
echo "strata push (blobs kept): ${T[spush]} s   re-push with every layer there: ${T[srepush]} s"
runs=()
for r in $(seq 1 "$RUNS"); do
  start_registry dst; DST=$REG
  for l in "${layers[@]}"; do dg=$(jq -r .digest <<<"$l"); rm -f "$work/sp/blobs/sha256/${dg#sha256:}"; done
  $S --root "$work/sp" tag big:local "$DST/big:v1" >/dev/null
  runs+=("$(secs $S --root "$work/sp" push "$DST/big:v1")")
  $S --root "$work/sp" rmi "$DST/big:v1" >/dev/null
  stop_registry "$REG_PID"
done
T[spushz]=$(printf '%s\n' "${runs[@]}" | median)
echo "strata push (layers rebuilt from snapshots + pgzip): ${T[spushz]} s"
runs=()
for r in $(seq 1 "$RUNS"); do
  start_registry dst; DST=$REG
  runs+=("$(secs skopeo copy -q --dest-tls-verify=false "oci:$oci:v1" "docker://$DST/big:v1")")
  stop_registry "$REG_PID"
done
T[kpush]=$(printf '%s\n' "${runs[@]}" | median)
echo "skopeo copy from the OCI dir (layers already gzipped): ${T[kpush]} s   ratio strata/skopeo $(ratio "${T[spush]}" "${T[kpush]}")"

fi
if want resume; then
echo "== resume after an interruption at 50%"
# Bytes are counted by a small TCP proxy in front of the registry (both
# directions), not by lo's counters, which other processes' traffic moves.
cat > "$work/count_proxy.py" <<'PY'
import asyncio, sys
listen_port, target_port, count_file = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
total = 0
async def pipe(r, w):
    global total
    try:
        while True:
            b = await r.read(1 << 20)
            if not b:
                break
            total += len(b)
            w.write(b)
            await w.drain()
    except Exception:
        pass
    finally:
        w.close()
async def handle(cr, cw):
    try:
        ur, uw = await asyncio.open_connection("127.0.0.1", target_port)
    except Exception:
        cw.close(); return
    await asyncio.gather(pipe(cr, uw), pipe(ur, cw))
async def report():
    last = -1
    while True:
        if total != last:
            with open(count_file + ".tmp", "w") as f:
                f.write(str(total))
            import os; os.replace(count_file + ".tmp", count_file); last = total
        await asyncio.sleep(0.01)
async def main():
    srv = await asyncio.start_server(handle, "127.0.0.1", listen_port)
    asyncio.ensure_future(report())
    async with srv:
        await srv.serve_forever()
asyncio.run(main())
PY
# start_proxy TARGET_HOST_PORT: sets PX (host:port) and PX_COUNT (file).
start_proxy() {
  local port; port=$(free_port); PX_COUNT=$work/count-$port
  echo 0 > "$PX_COUNT"
  python3 "$work/count_proxy.py" "$port" "${1##*:}" "$PX_COUNT" & pids+=("$!"); PX_PID=$!
  PX=127.0.0.1:$port
  for i in $(seq 1 100); do curl -sf "http://$PX/v2/" >/dev/null && return 0; sleep 0.05; done
}
counted() { cat "$PX_COUNT"; }
half=$((total / 2))
# interrupt_at_half SIGNAL command...: run it, send SIGNAL once the proxy
# moved half the image, wait for it to end.
interrupt_at_half() {
  local sig=$1; shift
  local start; start=$(counted)
  "$@" >/dev/null 2>&1 & local p=$!
  while kill -0 $p 2>/dev/null && (( $(counted) - start < half )); do sleep 0.01; done
  kill -s "$sig" $p 2>/dev/null || true; wait $p 2>/dev/null || true
  echo "$(( $(counted) - start ))" > "$work/first"
}
moved() { local start; start=$(counted); "$@" >/dev/null 2>&1; sleep 0.05; echo $(( $(counted) - start )); }
share() { echo "the first run moved $(echo "scale=1; 100 * $(cat "$work/first") / $total" | bc)%, the re-run $(echo "scale=1; 100 * $1 / $total" | bc)% of the image: $(echo "scale=1; 100 * ($(cat "$work/first") + $1 - $total) / $total" | bc)% moved twice"; }
start_proxy "$SRC"
for sig in KILL INT; do
  rm -rf "$work/kp"
  interrupt_at_half $sig $S --root "$work/kp" pull "$PX/big:v1"
  echo "pull interrupted (SIG$sig): $(share "$(moved $S --root "$work/kp" pull "$PX/big:v1")")"
done
rm -rf "$work/kp"; stop_registry "$PX_PID"
for sig in INT KILL; do
  start_registry dst; DST=$REG; start_proxy "$DST"
  $S --root "$work/sp" tag big:local "$PX/big:v1" >/dev/null
  interrupt_at_half $sig $S --root "$work/sp" push "$PX/big:v1"
  echo "push to distribution interrupted (SIG$sig): $(share "$(moved $S --root "$work/sp" push "$PX/big:v1")")"
  $S --root "$work/sp" rmi "$PX/big:v1" >/dev/null
  stop_registry "$PX_PID"; stop_registry "$REG_PID"
done
echo "   (distribution refuses to resume a session whose last chunk was cut, so after kill -9 that upload starts over; Ctrl-C lets the chunk finish)"
port=$(free_port)
$S registry serve --addr 127.0.0.1:$port --root "$work/sreg" --access-log none >/dev/null 2>&1 &
SREG_PID=$!; pids+=("$SREG_PID")
for i in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.05; done
start_proxy "127.0.0.1:$port"
$S --root "$work/sp" tag big:local "$PX/big:v1" >/dev/null
interrupt_at_half KILL $S --root "$work/sp" push "$PX/big:v1"
echo "push to strata's registry interrupted (SIGKILL): $(share "$(moved $S --root "$work/sp" push "$PX/big:v1")")"
$S --root "$work/sp" rmi "$PX/big:v1" >/dev/null
stop_registry "$PX_PID"; stop_registry "$SREG_PID"

fi
if ! want docker; then
  :
elif [[ -n $D ]]; then
  echo "== docker (dockerd 20.10, overlay2)"
  if [[ -z ${T[dpull]:-} ]]; then
    runs=()
    for r in $(seq 1 "$RUNS"); do
      $D rmi -f "$SRC/big:v1" >/dev/null 2>&1 || true
      runs+=("$(secs $D pull "$SRC/big:v1")")
    done
    T[dpull]=$(printf '%s\n' "${runs[@]}" | median)
  fi
  runs=(); reruns=()
  for r in $(seq 1 "$RUNS"); do
    start_registry dst; DST=$REG
    $D tag "$SRC/big:v1" "$DST/big:v1"
    runs+=("$(secs $D push "$DST/big:v1")")
    reruns+=("$(secs $D push "$DST/big:v1")")
    $D rmi "$DST/big:v1" >/dev/null
    stop_registry "$REG_PID"
  done
  T[dpush]=$(printf '%s\n' "${runs[@]}" | median); T[drepush]=$(printf '%s\n' "${reruns[@]}" | median)
  echo "docker pull: ${T[dpull]} s   docker push: ${T[dpush]} s   re-push: ${T[drepush]} s"
  # Only the ratios of what this run measured on Strata's side (PHASES).
  line="ratio strata/docker:"
  [[ -z ${T[spull]:-} ]] || line+=" pull $(ratio "${T[spull]}" "${T[dpull]}")"
  [[ -z ${T[spush]:-} ]] || line+="   push $(ratio "${T[spush]}" "${T[dpush]}")"
  [[ -z ${T[spushz]:-} ]] || line+="   push with rebuild+pgzip $(ratio "${T[spushz]}" "${T[dpush]}")"
  [[ -z ${T[srepush]:-} ]] || line+="   re-push $(ratio "${T[srepush]}" "${T[drepush]}")"
  echo "$line"
else
  echo "== docker: not installed (apt-get install -y docker.io); no docker ratios"
fi
