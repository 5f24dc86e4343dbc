#!/usr/bin/env bash
# Build benchmark (../shared/PEERS.md "Build"): Strata beside docker BuildKit, classic
# docker build and buildah (where installed), in turn, on the same Debian base and context.
#   cold   --no-cache after the previous result and the cache are pruned
#   warm   nothing changed
#   edit1  ~300 bytes appended to one context file
#   touch1 one context file's mtime changed
#   stages a 3-stage build whose two first stages are independent (1 s of sleep each):
#          ~1 s when they overlap, ~2 s when they run in turn
# Then the docker comparison tests (same files and config as docker build) run against the
# dockerd started here. Prints medians and ratios (Strata / peer).
# Usage: bench/build.sh [RUNS]   (as root; caches the Debian rootfs in /var/cache/strata-bench)
# Env: STRATA_OLD=/path/to/an/older/strata adds it as one more tool, in turn with the others on
#      a root of its own, so the ratios show this Strata against an older one (strata / old).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
export PATH=/usr/local/go/bin:$PATH
RUNS=${1:-5}
CACHE=${STRATA_BENCH_CACHE:-/var/cache/strata-bench}
mkdir -p "$CACHE"
ROOTFS=$CACHE/debian-minbase
if [[ ! -x $ROOTFS/bin/bash ]]; then
  dpkg -s debootstrap >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq debootstrap >/dev/null; }
  mirror=$(debian_mirror)
  echo "making $ROOTFS from $mirror (about 30 s)"
  rm -rf "$ROOTFS"
  debootstrap --variant=minbase bookworm "$ROOTFS" "$mirror" >/dev/null
fi
go build -o bin/strata ./cmd/strata
STRATA=$PWD/bin/strata
work=$(mktemp -d /var/tmp/strata-buildbench.XXXXXX)
DOCKER=/usr/bin/docker
SOCK=/run/bench-docker-build.sock
DPID=""
cleanup() {
  if [[ -n $DPID ]]; then
    kill "$DPID" 2>/dev/null || true; wait "$DPID" 2>/dev/null || true
    umount -R /var/lib/bench-docker-build /run/bench-docker-build 2>/dev/null || true
    rm -rf /var/lib/bench-docker-build /run/bench-docker-build "$SOCK" /run/bench-docker-build.pid
  fi
  umount -R "$work" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The context and Dockerfile of PEERS.md's workload (bench/lib.sh).
ctx=$work/ctx
peers_workload "$ctx" debian:bench
stages=$work/stages
mkdir -p "$stages"
cat > "$stages/Dockerfile" <<'DF'
FROM debian:bench AS a
RUN sleep 1 && echo a > /a
FROM debian:bench AS b
RUN sleep 1 && echo b > /b
FROM debian:bench
COPY --from=a /a /a
COPY --from=b /b /b
DF

# secs CMD...: wall seconds of CMD; a failure shows its output and stops the script.
secs() {
  local s; s=$(date +%s.%N)
  if ! "$@" >"$work/last.log" 2>&1; then
    echo "FAILED: $*" >&2; tail -20 "$work/last.log" >&2; touch "$work/failed"; exit 1
  fi
  echo "$(date +%s.%N) - $s" | bc
}
median() { sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.3f", m}'; }

declare -A PREP BUILD T
TOOLS=()
edit_file=$ctx/ctx/d07/f42
touch_file=$ctx/ctx/d08/f17

# measure CASE PREPARE-SUFFIX: for each run, every tool in turn (so the
# machine's load falls on all of them alike) prepares and builds; the
# median per tool goes to T[tool.CASE].
measure() {
  local case=$1 i t prep cmd
  declare -A runs=()
  for i in $(seq 1 "$RUNS"); do
    for t in "${TOOLS[@]}"; do
      cmd="${BUILD[$t]} $ctx"
      case $case in
        cold) prep=${PREP[$t]}; cmd="${BUILD[$t]} --no-cache $ctx" ;;
        warm) prep=true ;;
        edit1) prep="head -c 300 /dev/urandom | base64 -w0 | head -c 300 >> $edit_file" ;;
        # Bring the tool up to date first: the other tools' edit1 turns
        # changed a file since its last build.
        touch1) prep="${BUILD[$t]} $ctx; touch $touch_file" ;;
        stages) prep=${PREP[$t]}; cmd="${BUILD[$t]} --no-cache $stages" ;;
      esac
      eval "$prep" >/dev/null 2>&1 || true
      # Every tool starts with nothing dirty in the page cache: a tool that
      # syncs (strata's one syncfs per build) would otherwise also wait for
      # the writeback of the previous tool's build on the shared disk.
      sync
      runs[$t]+="$(secs bash -c "$cmd") "
      [[ ! -e $work/failed ]] || exit 1
    done
  done
  for t in "${TOOLS[@]}"; do T[$t.$case]=$(echo "${runs[$t]}" | tr ' ' '\n' | grep . | median); done
}

export STRATA_ROOT=$work/strata
$STRATA import "$ROOTFS" debian:bench >/dev/null
TOOLS+=(strata)
PREP[strata]="$STRATA rmi -f app:bench; $STRATA builder prune --all"
BUILD[strata]="$STRATA build -q -t app:bench"
if [[ -n ${STRATA_OLD:-} ]]; then
  O="$STRATA_OLD --root $work/strata-old"
  $O import "$ROOTFS" debian:bench >/dev/null
  TOOLS+=(old)
  PREP[old]="$O rmi -f app:bench; $O builder prune --all"
  BUILD[old]="$O build -q -t app:bench"
fi

if [[ -x $DOCKER && -x /usr/sbin/dockerd ]]; then
  rm -rf /var/lib/bench-docker-build; mkdir -p /var/lib/bench-docker-build # fresh, whatever an earlier run left
  dockerd --data-root /var/lib/bench-docker-build --exec-root /run/bench-docker-build --pidfile /run/bench-docker-build.pid \
    --storage-driver overlay2 --iptables=false --ip-masq=false --bridge=none -H "unix://$SOCK" >"$work/dockerd.log" 2>&1 &
  DPID=$!
  for _ in $(seq 1 100); do $DOCKER -H "unix://$SOCK" info >/dev/null 2>&1 && break; sleep 0.2; done
  D="$DOCKER -H unix://$SOCK"
  tar -C "$ROOTFS" -c . | $D import - debian:bench >/dev/null
  TOOLS+=(buildkit classic)
  PREP[buildkit]="$D rmi -f app:bench; $D builder prune -af"
  BUILD[buildkit]="DOCKER_BUILDKIT=1 $D build --network none -q -t app:bench"
  PREP[classic]="$D rmi -f app:bench; $D builder prune -af; $D image prune -f"
  BUILD[classic]="DOCKER_BUILDKIT=0 $D build --network none -q -t app:bench"
else
  echo "== docker not installed: apt-get install -y docker.io to compare"
fi
if command -v buildah >/dev/null; then
  B="buildah --root $work/buildah --runroot $work/buildah-run --storage-driver overlay"
  tar -C "$ROOTFS" -c . > "$work/rootfs.tar"
  c=$($B from scratch); $B add "$c" "$work/rootfs.tar" / >/dev/null; $B commit "$c" debian:bench >/dev/null; $B rm "$c" >/dev/null
  TOOLS+=(buildah)
  PREP[buildah]="$B rmi -f app:bench; $B rmi --prune"
  BUILD[buildah]="$B bud --runtime /usr/sbin/runc --network none --layers -q -t app:bench"
fi

echo "== ${TOOLS[*]} in turn ($(du -sh "$ctx" | cut -f1) context, $RUNS runs each, medians in seconds); load: $(cut -d' ' -f1-3 /proc/loadavg)"
measure cold
for t in "${TOOLS[@]}"; do eval "${BUILD[$t]} $ctx" >/dev/null 2>&1 || true; done
measure warm
measure edit1
measure touch1
measure stages
for t in "${TOOLS[@]}"; do
  printf '%-9s cold %s  warm %s  edit1 %s  touch1 %s  3 stages %s\n' "$t" "${T[$t.cold]}" "${T[$t.warm]}" "${T[$t.edit1]}" "${T[$t.touch1]}" "${T[$t.stages]}"
done
$STRATA build --progress plain -t stages:bench --no-cache "$stages" 2>&1 | grep -E 'RUN sleep|DONE' | head -8 | sed 's/^/  strata 3 stages: /'

echo "== ratios (Strata / peer; targets vs BuildKit: cold <= 0.8, warm <= 0.5, edit1 <= 0.7)"
for peer in "${TOOLS[@]:1}"; do
  printf '%-9s cold %s  warm %s  edit1 %s  touch1 %s  3 stages %s\n' "$peer" \
    "$(ratio "${T[strata.cold]}" "${T[$peer.cold]}")" "$(ratio "${T[strata.warm]}" "${T[$peer.warm]}")" \
    "$(ratio "${T[strata.edit1]}" "${T[$peer.edit1]}")" "$(ratio "${T[strata.touch1]}" "${T[$peer.touch1]}")" \
    "$(ratio "${T[strata.stages]}" "${T[$peer.stages]}")"
done

if [[ -n $DPID ]]; then
  echo "== same result as docker build (go test -run TestSameAsDocker)"
  STRATA_TEST_DOCKER_HOST="unix://$SOCK" go test -count=1 -v -run TestSameAsDocker ./internal/build/ 2>&1 | grep -E "^ *(--- |ok|FAIL)" | tail -15
fi
