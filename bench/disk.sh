#!/usr/bin/env bash
# Disk a store takes, Strata beside docker's overlay2 in the same run, on the
# workloads of ../shared/PEERS.md, each pushed to a loopback distribution 2.8
# with skopeo (gzipped by pigz, as another tool would make them):
#   debian  the debootstrap'ed Debian minbase rootfs, one layer
#   big     the Debian base + RANDOM_MB of random bytes + COMPRESSIBLE_MB of
#           compressible data (files that differ), three layers
# disk:  strata pull into a fresh root with the default blob cache (0: one copy
#        of each layer) and docker pull into a fresh dockerd data root; `du -sb`
#        of each root, and the ratio strata/docker.
# time:  strata pull and strata load (of a strata save of the image) with the
#        defaults (blob cache 0, dedupe on), with a large blob cache
#        (--blob-cache-size 64g, every blob kept) and with dedupe off
#        (STRATA_DEDUPE=0), in turn, RUNS runs; medians and the ratios
#        default/large and dedupe on/off (issue #16: at most 1.10), and the
#        median of the on/off ratios of each run (pairmed). Each timed run
#        starts from the same state (fresh_root in lib.sh: the store before
#        removed, caches dropped, the inputs read back in).
# dedupe (issue #16 item 2): two images whose layers have different digests but
#        the same files, each tool with its defaults (Strata: dedupe on, blob
#        cache 0), disk as `du -sB1` (blocks, every inode once) of each root:
#          rootfs2x  the Debian rootfs tarred twice, the second with other
#                    directory mtimes (every layer digest differs), both pulled
#          link2x    then the same app (APP_MB of 52 KiB random files, PEERS.md's
#                    context) built on each base by COPY --link (docker 20.10's
#                    frontend has no --link: plain COPY, which stores the same)
#        and dedupe on vs off (STRATA_DEDUPE=1/0, fresh roots, in turn, RUNS
#        runs, medians): the pull of both images, the load of a save of both,
#        and run --rm IMAGE true.
# A workload is a function `workload_NAME` that makes an OCI layout in $1 with
# one image tagged v1; WORKLOADS lists those run.
# Usage: bench/disk.sh   (as root). Env: RUNS=3 RANDOM_MB=500 COMPRESSIBLE_MB=200
# APP_MB=105 WORKLOADS="debian big" PHASES="disk time dedupe" STRATA_BIN=... (else built here)
# ROOTFS=/path/to/debian-minbase (else made with debootstrap and cached in
# /var/cache/strata-bench) PORTS=5700-5799 DOCKERD_NAME=bench-docker-blobcache
# (the dockerd's data root /var/lib/NAME, exec root /run/NAME, /run/NAME.pid
# and /run/NAME.sock: it never meets another dockerd)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
export PATH=/usr/local/go/bin:$PATH
RUNS=${RUNS:-3}
RANDOM_MB=${RANDOM_MB:-500}
COMPRESSIBLE_MB=${COMPRESSIBLE_MB:-200}
WORKLOADS=${WORKLOADS:-debian big}
PHASES=${PHASES:-disk time dedupe}
APP_MB=${APP_MB:-105}
DOCKERD_NAME=${DOCKERD_NAME:-bench-docker-blobcache}
LARGE=64g
want() { [[ " $PHASES " == *" $1 "* ]]; }
for tool in docker-registry skopeo pigz jq bc debootstrap; do
  command -v $tool >/dev/null || apt-get install -y docker-registry skopeo pigz jq bc debootstrap >/dev/null
done
if [[ -n ${STRATA_BIN:-} ]]; then S=$STRATA_BIN; else go build -o bin/strata ./cmd/strata; S=$PWD/bin/strata; fi
CACHE=${STRATA_BENCH_CACHE:-/var/cache/strata-bench}
ROOTFS=${ROOTFS:-$CACHE/debian-minbase}
if [[ ! -x $ROOTFS/bin/bash ]]; then
  mkdir -p "$CACHE"
  mirror=$(debian_mirror)
  echo "making $ROOTFS from $mirror (about 30 s)"
  rm -rf "$ROOTFS"
  debootstrap --variant=minbase bookworm "$ROOTFS" "$mirror" >/dev/null
fi
work=$(mktemp -d /var/tmp/strata-disk.XXXXXX)
pids=()
cleanup() {
  ! declare -F stop_dockerd >/dev/null || stop_dockerd
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

median() { sort -n | awk '{a[NR]=$1} END {printf "%.3f\n", a[int((NR+1)/2)]}'; }
# the median of the ratios run by run of two lists of times taken in the
# same rounds: a slow phase of this VM's disk, which lasts seconds, then
# weighs on both sides of a ratio instead of on one side of the medians
pairmed() { paste -d' ' <(printf '%s\n' $1) <(printf '%s\n' $2) | awk '{printf "%.4f\n", $1 / $2}' | sort -n | awk '{a[NR]=$1} END {printf "%.2f", a[int((NR+1)/2)]}'; }
mb() { echo "scale=1; $1 / 1000000" | bc; }
# parts ROOT FIRST...: what `du -sb ROOT` counts, by entry of ROOT, in MB:
# one du over the entries FIRST (those present) then the rest, so an inode
# two entries share (a pooled file and its snapshot's path) counts once,
# under the first.
parts() {
  local root=$1 e; shift
  local names=()
  for e in "$@"; do [[ -e $root/$e ]] && names+=("$e"); done
  for e in $(ls -A "$root"); do [[ " $* " == *" $e "* ]] || names+=("$e"); done
  (cd "$root" && du -sb -- "${names[@]}") | awk '{printf "%s%s %.3f", (NR > 1 ? ", " : ""), $2, $1 / 1e6} END {print ""}'
}
PORTS=${PORTS:-5700-5799}

# The registry every workload is pushed to and pulled from.
port=$(free_port); mkdir -p "$work/reg"
cat > "$work/reg/config.yml" <<YML
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $work/reg/data
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: 127.0.0.1:$port
YML
docker-registry serve "$work/reg/config.yml" >"$work/reg/log" 2>&1 &
pids+=("$!"); REG=127.0.0.1:$port
for i in $(seq 1 100); do curl -sf "http://$REG/v2/" >/dev/null && break; sleep 0.05; done

# oci_image DIR TAR...: an OCI layout in DIR of one image, v1, whose layers
# are the tars given, gzipped by pigz.
oci_image() {
  local oci=$1; shift
  mkdir -p "$oci/blobs/sha256"
  echo '{"imageLayoutVersion":"1.0.0"}' > "$oci/oci-layout"
  local layers=() diffids=() l dg sz
  for l in "$@"; do
    diffids+=("sha256:$(sha256sum < "$l" | cut -d' ' -f1)")
    pigz -6 -n -c "$l" > "$oci/layer.tgz"
    dg=$(sha256sum < "$oci/layer.tgz" | cut -d' ' -f1); sz=$(stat -c %s "$oci/layer.tgz")
    mv "$oci/layer.tgz" "$oci/blobs/sha256/$dg"
    layers+=("{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:$dg\",\"size\":$sz}")
  done
  local cfg cdg man mdg
  cfg=$(jq -cn --arg a "$(go env GOARCH)" --argjson d "$(printf '%s\n' "${diffids[@]}" | jq -R . | jq -cs .)" \
    '{architecture:$a, os:"linux", config:{Cmd:["/bin/sh"]}, rootfs:{type:"layers", diff_ids:$d}}')
  cdg=$(printf '%s' "$cfg" | sha256sum | cut -d' ' -f1); printf '%s' "$cfg" > "$oci/blobs/sha256/$cdg"
  man=$(printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%d},"layers":[%s]}' \
    "$cdg" "${#cfg}" "$(IFS=,; echo "${layers[*]}")")
  mdg=$(printf '%s' "$man" | sha256sum | cut -d' ' -f1); printf '%s' "$man" > "$oci/blobs/sha256/$mdg"
  printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%d,"annotations":{"org.opencontainers.image.ref.name":"v1"}}]}' \
    "$mdg" "${#man}" > "$oci/index.json"
}

workload_debian() {
  tar -C "$ROOTFS" -cf "$work/base.tar" .
  oci_image "$1" "$work/base.tar"
  rm -f "$work/base.tar"
}

workload_big() {
  local d
  tar -C "$ROOTFS" -cf "$work/base.tar" .
  d=$work/rand; mkdir -p "$d/opt/rand"
  for i in $(seq 1 $((RANDOM_MB / 50))); do head -c $((50 << 20)) /dev/urandom > "$d/opt/rand/r$i"; done
  tar -C "$d" -cf "$work/rand.tar" .; rm -rf "$d"
  d=$work/comp; mkdir -p "$d/opt/text"
  for i in $(seq 1 $((COMPRESSIBLE_MB / 50))); do
    # each file its own bytes (a first line of its own shifts the rest): four
    # copies of one file, mtimes in the same second, would share the pool's
    # inode, and whether they did would vary run by run
    f=$d/opt/text/c$i; echo "c$i" > "$f"
    while (( $(stat -c %s "$f") < (50 << 20) )); do cat "$work/base.tar" >> "$f"; done
    truncate -s $((50 << 20)) "$f"
  done
  tar -C "$d" -cf "$work/comp.tar" .; rm -rf "$d"
  oci_image "$1" "$work/base.tar" "$work/rand.tar" "$work/comp.tar"
  rm -f "$work/base.tar" "$work/rand.tar" "$work/comp.tar"
}

# docker as scripts/ci-dockerd.sh starts it (PEERS.md's flags), on paths of
# this bench's own, a fresh data root per workload.
export STRATA_CI_DOCKER_SOCK=/run/$DOCKERD_NAME.sock STRATA_CI_DOCKER_DATA=/var/lib/$DOCKERD_NAME \
  STRATA_CI_DOCKER_EXEC=/run/$DOCKERD_NAME STRATA_CI_DOCKER_PIDFILE=/run/$DOCKERD_NAME.pid \
  STRATA_CI_DOCKER_LOG=$work/dockerd.log
source scripts/ci-dockerd.sh
DOCKER=/usr/bin/docker
D="$DOCKER -H unix://$STRATA_CI_DOCKER_SOCK"
start_dockerd() { ci_dockerd_start >/dev/null; [[ -n $CI_DOCKERD_PID ]]; }
stop_dockerd() { ci_dockerd_stop 2>/dev/null; }
have_docker() { [[ -x /usr/sbin/dockerd && -x $DOCKER ]]; }

declare -A ROW
for w in $WORKLOADS; do
  echo "== workload $w"
  rm -rf "$work/oci"; "workload_$w" "$work/oci"
  ref=$REG/disk/$w:v1
  skopeo copy -q --dest-tls-verify=false "oci:$work/oci:v1" "docker://$ref"
  gz=$(jq '[.layers[].size] | add' "$work/oci/blobs/sha256/$(jq -r '.manifests[0].digest' "$work/oci/index.json" | cut -d: -f2)")
  rm -rf "$work/oci"
  if want disk; then
    rm -rf "$work/s"; $S --root "$work/s" pull "$ref" >/dev/null 2>&1
    sb=$(du -sb "$work/s" | cut -f1)
    sbl=$(du -sb "$work/s/blobs" | cut -f1)
    line="$w: image $(mb "$gz") MB gzipped; strata $(mb "$sb") MB (blobs $(mb "$sbl") MB)"
    $S --root "$work/s" system df | sed 's/^/    /'
    echo "    strata parts (MB): $(parts "$work/s" snapshots files blobs)"
    rm -rf "$work/s"
    if have_docker && start_dockerd; then
      $D pull "$ref" >/dev/null 2>&1
      db=$(du -sb "/var/lib/$DOCKERD_NAME" | cut -f1)
      echo "    docker parts (MB): $(parts "/var/lib/$DOCKERD_NAME" overlay2 image)"
      stop_dockerd
      line="$line; docker overlay2 $(mb "$db") MB; strata/docker $(ratio "$sb" "$db" 4)"
    fi
    ROW[$w]=$line
    echo "$line"
  fi
  if want time; then
    # The archive to load: a save of the image with every blob kept.
    rm -rf "$work/s"; $S --root "$work/s" --blob-cache-size $LARGE pull "$ref" >/dev/null 2>&1
    $S --root "$work/s" --blob-cache-size $LARGE save -o "$work/img.tar" "$ref" 2>/dev/null; rm -rf "$work/s"
    declare -A T=()
    for r in $(seq 1 "$RUNS"); do
      # in turn, the order rotated run by run so that none always goes first
      cs=(default large nodedupe); cs=("${cs[@]:r%3}" "${cs[@]:0:r%3}")
      for c in "${cs[@]}"; do
        cache=0; [[ $c == large ]] && cache=$LARGE
        dd=1; [[ $c == nodedupe ]] && dd=0
        fresh_root "$work/s" "$S" "$work/reg/data"; T[pull$c]+="$(STRATA_DEDUPE=$dd secs $S --root "$work/s" --blob-cache-size $cache pull "$ref") "
        fresh_root "$work/s" "$S" "$work/img.tar"; T[load$c]+="$(STRATA_DEDUPE=$dd secs $S --root "$work/s" --blob-cache-size $cache load -i "$work/img.tar") "
      done
    done
    rm -rf "$work/s" "$work/img.tar"
    for k in pull load; do
      a=$(printf '%s\n' ${T[${k}default]} | median); b=$(printf '%s\n' ${T[${k}large]} | median); c=$(printf '%s\n' ${T[${k}nodedupe]} | median)
      echo "$w $k: default $a s, large cache $b s, dedupe off $c s; default/large $(ratio "$a" "$b"), dedupe on/off $(ratio "$a" "$c") (run by run: median $(pairmed "${T[${k}default]}" "${T[${k}nodedupe]}"))   runs: ${T[${k}default]}/ ${T[${k}large]}/ ${T[${k}nodedupe]}"
    done
  fi
done
if want disk; then
  echo "== disk after pull (du -sb of each root)"
  for w in $WORKLOADS; do echo "${ROW[$w]}"; done
fi

if want dedupe; then
  echo "== dedupe: two images with the same files under different layer digests"
  blocks() { du -sB1 "$@" 2>/dev/null | tail -1 | cut -f1; }
  cp -a "$ROOTFS" "$work/b"
  find "$work/b" -type d -exec touch -h -d '2020-01-01 00:00:00' {} +
  tar -C "$ROOTFS" -cf "$work/a.tar" . && tar -C "$work/b" -cf "$work/b.tar" . && rm -rf "$work/b"
  for i in a b; do
    rm -rf "$work/oci"; oci_image "$work/oci" "$work/$i.tar"
    skopeo copy -q --dest-tls-verify=false "oci:$work/oci:v1" "docker://$REG/dedupe/rootfs:$i"
  done
  rm -rf "$work/oci" "$work/a.tar" "$work/b.tar"
  mkdir -p "$work/ctx/app"
  for d in $(seq -w 0 19); do
    mkdir -p "$work/ctx/app/d$d"
    for f in $(seq 1 $((APP_MB * 1000000 / 52429 / 20))); do head -c 52429 /dev/urandom > "$work/ctx/app/d$d/f$f"; done
  done
  dockerfile() { printf 'FROM %s\nCOPY %s app/ /app/\n' "$1" "$2" > "$work/ctx/Dockerfile"; }
  # fill ROOT: pull both images, then build the app on each (dedupe as $STRATA_DEDUPE says)
  pull_both() { $S --root "$1" pull "$REG/dedupe/rootfs:a" && $S --root "$1" pull "$REG/dedupe/rootfs:b"; }
  for mode in 1 0; do
    rm -rf "$work/d$mode"
    STRATA_DEDUPE=$mode pull_both "$work/d$mode" >/dev/null 2>&1
    r1[$mode]=$(blocks "$work/d$mode")
    for i in a b; do
      dockerfile "$REG/dedupe/rootfs:$i" --link
      STRATA_DEDUPE=$mode $S --root "$work/d$mode" build -q -t "app:$i" "$work/ctx" >/dev/null
    done
    r2[$mode]=$(blocks "$work/d$mode")
  done
  echo "strata, dedupe on:  rootfs2x $(mb "${r1[1]}") MB; + link2x $(mb "${r2[1]}") MB (of which blobs $(mb "$(blocks "$work/d1/blobs")") MB, file pool $(mb "$(blocks "$work/d1/files")") MB)"
  echo "strata, dedupe off: rootfs2x $(mb "${r1[0]}") MB; + link2x $(mb "${r2[0]}") MB"
  if have_docker && start_dockerd; then
    $D pull "$REG/dedupe/rootfs:a" >/dev/null 2>&1; $D pull "$REG/dedupe/rootfs:b" >/dev/null 2>&1
    d1=$(blocks "/var/lib/$DOCKERD_NAME")
    for i in a b; do
      dockerfile "$REG/dedupe/rootfs:$i" ""
      DOCKER_BUILDKIT=1 $D build --network none -q -t "app:$i" "$work/ctx" >/dev/null
    done
    d2=$(blocks "/var/lib/$DOCKERD_NAME")
    stop_dockerd
    echo "docker overlay2:    rootfs2x $(mb "$d1") MB; + link2x $(mb "$d2") MB"
    echo "strata/docker, dedupe on:  rootfs2x $(ratio "${r1[1]}" "$d1"), rootfs2x + link2x $(ratio "${r2[1]}" "$d2"), link2x alone $(ratio $((r2[1] - r1[1])) $((d2 - d1)))"
    echo "strata/docker, dedupe off: rootfs2x $(ratio "${r1[0]}" "$d1"), rootfs2x + link2x $(ratio "${r2[0]}" "$d2")"
  fi
  $S --root "$work/d0" save -o "$work/both.tar" "$REG/dedupe/rootfs:a" "$REG/dedupe/rootfs:b" 2>/dev/null
  rm -rf "$work/d0" "$work/d1" "$work/ctx"
  declare -A R
  for r in $(seq 1 "$RUNS"); do
    for mode in $( ((r % 2)) && echo "1 0" || echo "0 1"); do
      export STRATA_DEDUPE=$mode
      fresh_root "$work/p$mode" "$S" "$work/reg/data"; R[pull$mode]+="$(secs pull_both "$work/p$mode") "
      fresh_root "$work/p$mode" "$S" "$work/both.tar"; R[load$mode]+="$(secs $S --root "$work/p$mode" load -i "$work/both.tar") "
      R[run$mode]+="$(secs $S --root "$work/p$mode" run --rm "$REG/dedupe/rootfs:b" true) "
    done
  done
  unset STRATA_DEDUPE
  rm -rf "$work/p0" "$work/p1" "$work/both.tar"
  for k in pull load run; do
    on=$(printf '%s\n' ${R[${k}1]} | median); off=$(printf '%s\n' ${R[${k}0]} | median)
    echo "dedupe $k (both images): on $on s, off $off s, on/off $(ratio "$on" "$off") (run by run: median $(pairmed "${R[${k}1]}" "${R[${k}0]}"))   runs on: ${R[${k}1]}/ off: ${R[${k}0]}"
  done
fi
