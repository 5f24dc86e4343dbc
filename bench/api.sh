#!/usr/bin/env bash
# The Engine API: the docker CLI through Strata's socket (strata system service) beside the
# same CLI through a dockerd of the bench's own (started as scripts/ci-dockerd.sh does, on its
# own socket and data root), in turn on the same machine (see ../shared/PEERS.md):
#   1. docker run --rm busybox true            (goal: Strata <= 0.4x dockerd)
#   2. docker ps -a with 50 containers
#   3. docker build of PEERS.md's workload, cold (--no-cache): Strata through the socket vs
#      dockerd's legacy builder and BuildKit
#   4. docker pull of the big image (Debian + 500 MiB random + 200 MiB compressible) from a
#      local `strata registry serve`, into each (BIG=0 leaves it out)
# Prints medians and ratios (Strata / dockerd; < 1 is faster).
# Usage: bench/api.sh   (as root; runc, docker.io, busybox-static, debootstrap)
# Env: RUNS=10 BIG=1 DEBIAN_CACHE (default: the tests' debootstrap, else bench/build.sh's)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
export PATH=/usr/local/go/bin:$PATH
RUNS=${RUNS:-10}
BIG=${BIG:-1}
DEBIAN_CACHE=${DEBIAN_CACHE:-/var/cache/strata-test/debian-minbase}
[[ -x $DEBIAN_CACHE/bin/bash ]] || DEBIAN_CACHE=/var/cache/strata-bench/debian-minbase
CLI=/usr/local/bin/docker
[[ -x $CLI ]] || CLI=/usr/bin/docker
CGO_ENABLED=0 go build -o bin/strata ./cmd/strata
work=$(mktemp -d /var/tmp/strata-apibench.XXXXXX)
R=$work/root
S="$PWD/bin/strata --root $R"
SSOCK=unix://$work/strata.sock
export STRATA_CI_DOCKER_SOCK=/run/bench-api-docker.sock STRATA_CI_DOCKER_DATA=/var/lib/bench-api-docker \
  STRATA_CI_DOCKER_EXEC=/run/bench-api-docker STRATA_CI_DOCKER_PIDFILE=/run/bench-api-docker.pid \
  STRATA_CI_DOCKER_LOG=$work/dockerd.log
. scripts/ci-dockerd.sh
DSOCK=unix://$STRATA_CI_DOCKER_SOCK
pids=()
cleanup() {
  set +e
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  $S ps -aq 2>/dev/null | xargs -r $S rm -f >/dev/null 2>&1
  ci_dockerd_stop
  grep -o " $work[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null
  rm -rf "$work" "$STRATA_CI_DOCKER_DATA"
}
trap cleanup EXIT
ci_dockerd_start
[[ -n ${CI_DOCKERD_PID:-} ]] || { echo "api bench: no dockerd; see $work/dockerd.log" >&2; exit 1; }

# median of a command's wall time over N runs, in seconds
median() { # n cmd...
  local n=$1; shift
  local ts=() i s
  for i in $(seq 1 "$n"); do
    s=$(date +%s.%N); "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; return 1; }
    ts+=("$(echo "$(date +%s.%N) - $s" | bc)")
  done
  printf '%s\n' "${ts[@]}" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'
}
row() { # label strata docker
  printf '%-44s strata %8.3f s   dockerd %8.3f s   ratio %.2fx\n' "$1" "$2" "$3" "$(echo "$2 / $3" | bc -l)"
}

# Busybox in both stores.
rootfs=$work/bb
mkdir -p "$rootfs/bin" "$rootfs/etc"
cp /bin/busybox "$rootfs/bin/busybox"
for n in $(/bin/busybox --list); do [[ $n == busybox ]] || ln -s busybox "$rootfs/bin/$n"; done
echo 'root:x:0:0:root:/root:/bin/sh' >"$rootfs/etc/passwd"
$S import -c 'ENV PATH=/bin' -c 'CMD ["sh"]' "$rootfs" busybox:latest >/dev/null
tar -C "$rootfs" -c . | $CLI -H "$DSOCK" import -c 'ENV PATH=/bin' -c 'CMD ["sh"]' - busybox:latest >/dev/null
$S system service "$SSOCK" 2>"$work/service.log" &
pids+=($!)
for _ in $(seq 1 100); do $CLI -H "$SSOCK" version >/dev/null 2>&1 && break; sleep 0.1; done

echo "== docker run --rm busybox true ($RUNS runs each, median; the docker $($CLI -H "$DSOCK" version -f '{{.Client.Version}}') CLI)"
$CLI -H "$SSOCK" run --rm busybox true; $CLI -H "$DSOCK" run --rm busybox true # warm-up
a=$(median "$RUNS" $CLI -H "$SSOCK" run --rm busybox true)
b=$(median "$RUNS" $CLI -H "$DSOCK" run --rm busybox true)
row "run --rm busybox true" "$a" "$b"
# The bench's dockerd has no bridge (PEERS.md's flags), so its default run has only lo, while
# Strata's default network gives the container outbound access: the same work is --network none.
a=$(median "$RUNS" $CLI -H "$SSOCK" run --rm --network none busybox true)
b=$(median "$RUNS" $CLI -H "$DSOCK" run --rm --network none busybox true)
row "run --rm --network none busybox true" "$a" "$b"

echo "== docker ps -a with 50 containers"
for i in $(seq 1 50); do
  $CLI -H "$SSOCK" create --name c$i busybox true >/dev/null
  $CLI -H "$DSOCK" create --name c$i busybox true >/dev/null
done
a=$(median "$RUNS" $CLI -H "$SSOCK" ps -a)
b=$(median "$RUNS" $CLI -H "$DSOCK" ps -a)
row "ps -a (50 containers)" "$a" "$b"
$CLI -H "$SSOCK" container prune -f >/dev/null; $CLI -H "$DSOCK" container prune -f >/dev/null

echo "== docker build, PEERS.md's workload, cold (--no-cache)"
if [[ ! -x $DEBIAN_CACHE/bin/bash ]]; then
  mirror=$(debian_mirror)
  mkdir -p "$(dirname "$DEBIAN_CACHE")"
  rm -rf "$DEBIAN_CACHE.tmp"
  debootstrap --variant=minbase bookworm "$DEBIAN_CACHE.tmp" "$mirror" >/dev/null
  rm -rf "$DEBIAN_CACHE" && mv "$DEBIAN_CACHE.tmp" "$DEBIAN_CACHE"
fi
tar -C "$DEBIAN_CACHE" -c . >"$work/debian.tar"
$CLI -H "$SSOCK" import "$work/debian.tar" debian:base >/dev/null
$CLI -H "$DSOCK" import "$work/debian.tar" debian:base >/dev/null
ctx=$work/ctx
peers_workload "$ctx" debian:base
# --network none: dockerd runs here with --bridge=none, and the workload needs no network.
a=$(median 1 $CLI -H "$SSOCK" build --network none --no-cache -t w "$ctx")
b=$(median 1 env DOCKER_BUILDKIT=0 /usr/bin/docker -H "$DSOCK" build --network none --no-cache -t w "$ctx")
c=$(median 1 env DOCKER_BUILDKIT=1 /usr/bin/docker -H "$DSOCK" build --network none --no-cache -t wk "$ctx")
row "build cold vs dockerd's legacy builder" "$a" "$b"
row "build cold vs dockerd's BuildKit" "$a" "$c"

if [[ $BIG == 1 ]]; then
  echo "== docker pull of the big image from a local strata registry serve"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  bin/strata registry serve --root "$work/reg" --addr 127.0.0.1:$port 2>"$work/registry.log" &
  pids+=($!)
  for _ in $(seq 1 100); do curl -sf http://127.0.0.1:$port/v2/ >/dev/null && break; sleep 0.1; done
  big=$work/big
  mkdir -p "$big"
  head -c $((500 << 20)) /dev/urandom >"$big/random.bin"
  : >"$big/compressible.bin"
  while (($(stat -c %s "$big/compressible.bin") < (200 << 20))); do cat "$work/debian.tar" >>"$big/compressible.bin"; done
  truncate -s $((200 << 20)) "$big/compressible.bin"
  printf 'FROM debian:base\nCOPY random.bin /big/random.bin\nCOPY compressible.bin /big/compressible.bin\n' >"$big/Dockerfile"
  ref=127.0.0.1:$port/bench/big:1
  $S build -q -t "$ref" "$big" >/dev/null
  $S push "$ref" >/dev/null
  # Into a fresh store behind a second service: the first keeps the layers it built.
  bin/strata --root "$work/root2" system service "unix://$work/strata2.sock" 2>"$work/service2.log" &
  pids+=($!)
  for _ in $(seq 1 100); do $CLI -H "unix://$work/strata2.sock" version >/dev/null 2>&1 && break; sleep 0.1; done
  a=$(median 1 $CLI -H "unix://$work/strata2.sock" pull "$ref")
  b=$(median 1 /usr/bin/docker -H "$DSOCK" pull "$ref")
  row "pull of the big image" "$a" "$b"
fi
