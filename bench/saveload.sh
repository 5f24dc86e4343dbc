#!/usr/bin/env bash
# save and load of a big image, Strata beside docker on the same input, in turn.
#   image: one directory of RANDOM_MB of random bytes + COMPRESSIBLE_MB of
#   compressible data (a tar of /usr repeated), imported by each tool.
#   strata save -o / strata load -i (fresh root)  vs  docker save -o / docker load -i
#   (after docker rmi), median of RUNS runs, and the ratio strata/docker.
# Also checks that docker loads what strata saves.
# Usage: bench/saveload.sh   (as root; docker.io optional: without dockerd only
# Strata's figures are printed). Env: RANDOM_MB=300 COMPRESSIBLE_MB=200 RUNS=3
# DOCKERD_NAME=bench-docker-pull (the dockerd's data root /var/lib/NAME, exec
# root /run/NAME, /run/NAME.pid and /run/NAME.sock, apart from any other)
# STRATA_BIN=/path/to/strata (else built here) STRATA_OLD=/path/to/an/older/strata
# (its load of the same archive is timed in turn with the new one's in each
# run, and the ratio new/old printed: a change's effect on speed)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
export PATH=/usr/local/go/bin:$PATH
RANDOM_MB=${RANDOM_MB:-300}
COMPRESSIBLE_MB=${COMPRESSIBLE_MB:-200}
RUNS=${RUNS:-3}
DOCKERD_NAME=${DOCKERD_NAME:-bench-docker-pull}
if [[ -n ${STRATA_BIN:-} ]]; then S=$STRATA_BIN; else go build -o bin/strata ./cmd/strata; S=$PWD/bin/strata; fi
work=$(mktemp -d /var/tmp/strata-saveload.XXXXXX)
dockerd_pid=""
cleanup() {
  if [[ -n $dockerd_pid ]]; then
    kill "$dockerd_pid" 2>/dev/null || true; wait "$dockerd_pid" 2>/dev/null || true
    rm -rf "/var/lib/$DOCKERD_NAME" "/run/$DOCKERD_NAME" "/run/$DOCKERD_NAME.sock" "/run/$DOCKERD_NAME.pid"
  fi
  rm -rf "$work"
}
trap cleanup EXIT

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "== making the image: ${RANDOM_MB} MiB random + ${COMPRESSIBLE_MB} MiB compressible"
src=$work/src; mkdir -p "$src/rand" "$src/text"
for i in $(seq 1 $((RANDOM_MB / 50))); do head -c $((50 << 20)) /dev/urandom > "$src/rand/r$i"; done
tar -C /usr -cf "$work/usr.tar" share/doc share/man share/locale 2>/dev/null || true
for i in $(seq 1 $((COMPRESSIBLE_MB / 50))); do
  f=$src/text/c$i; : > "$f"
  while (( $(stat -c %s "$f") < (50 << 20) )); do cat "$work/usr.tar" >> "$f"; done
  truncate -s $((50 << 20)) "$f"
done
rm -f "$work/usr.tar"
echo "source: $(du -sh "$src" | cut -f1)"

declare -A T
DOCKER=/usr/bin/docker
D=""
if [[ -x /usr/sbin/dockerd && -x $DOCKER ]]; then
  rm -rf "/var/lib/$DOCKERD_NAME" # fresh, whatever an earlier run left
  dockerd --data-root "/var/lib/$DOCKERD_NAME" --exec-root "/run/$DOCKERD_NAME" --pidfile "/run/$DOCKERD_NAME.pid" \
    --storage-driver overlay2 --iptables=false --ip-masq=false --bridge=none \
    -H "unix:///run/$DOCKERD_NAME.sock" >"$work/dockerd.log" 2>&1 &
  dockerd_pid=$!
  D="$DOCKER -H unix:///run/$DOCKERD_NAME.sock"
  for i in $(seq 1 100); do $D version >/dev/null 2>&1 && break; sleep 0.2; done
  tar -C "$src" -c . | $D import - big:docker >/dev/null
fi
# With docker, each run saves and loads with strata and then with docker, so
# that both see the same load on a shared machine.
dsaves=(); dloads=()
for comp in gzip zstd; do
  root=$work/sroot-$comp
  $S --root "$root" import --compression "$comp" "$src" big:$comp >/dev/null
  saves=(); loads=(); spairs=(); lpairs=(); oloads=(); opairs=()
  for r in $(seq 1 "$RUNS"); do
    rm -f "$work/s.tar"; sync
    saves+=("$(secs $S --root "$root" save -o "$work/s.tar" big:$comp)")
    fresh_root "$work/lroot" "$S" "$work/s.tar"
    loads+=("$(secs $S --root "$work/lroot" load -i "$work/s.tar")")
    if [[ -n ${STRATA_OLD:-} ]]; then
      fresh_root "$work/oroot" "$STRATA_OLD" "$work/s.tar"
      oloads+=("$(secs "$STRATA_OLD" --root "$work/oroot" load -i "$work/s.tar")"); rm -rf "$work/oroot"
      opairs+=("$(ratio "${loads[-1]}" "${oloads[-1]}")")
    fi
    if [[ -n $D ]]; then
      rm -f "$work/d.tar"; sync
      dsaves+=("$(secs $D save -o "$work/d.tar" big:docker)")
      $D rmi big:docker >/dev/null; fresh_root "" "$work/d.tar"
      dloads+=("$(secs $D load -i "$work/d.tar")")
      spairs+=("$(ratio "${saves[-1]}" "${dsaves[-1]}")"); lpairs+=("$(ratio "${loads[-1]}" "${dloads[-1]}")")
    fi
  done
  T[save-$comp]=$(printf '%s\n' "${saves[@]}" | median)
  T[load-$comp]=$(printf '%s\n' "${loads[@]}" | median)
  T[spairs-$comp]="${spairs[*]}"; T[lpairs-$comp]="${lpairs[*]}"
  # stdin: spooled to ROOT/tmp first
  rm -rf "$work/lroot"; sync
  T[loadstdin-$comp]=$(secs bash -c "$S --root $work/lroot load < $work/s.tar")
  echo "strata ($comp layers, archive $(du -h "$work/s.tar" | cut -f1)): save ${T[save-$comp]} s   load -i ${T[load-$comp]} s   load from stdin ${T[loadstdin-$comp]} s   load runs: ${loads[*]}"
  if [[ -n ${STRATA_OLD:-} ]]; then
    o=$(printf '%s\n' "${oloads[@]}" | median)
    echo "old strata load -i ($comp, $STRATA_OLD, in turn): $o s   ratio new/old: $(ratio "${T[load-$comp]}" "$o") (medians); run by run: ${opairs[*]}"
  fi
  cp "$work/s.tar" "$work/strata-$comp.tar"
  rm -rf "$work/lroot" "$root"
done

if [[ -n $D ]]; then
  echo "== docker (dockerd 20.10, overlay2), in turn with strata's runs"
  T[dsave]=$(printf '%s\n' "${dsaves[@]}" | median)
  T[dload]=$(printf '%s\n' "${dloads[@]}" | median)
  echo "docker (archive $(du -h "$work/d.tar" | cut -f1)): save ${T[dsave]} s   load ${T[dload]} s   load runs: ${dloads[*]}"
  for comp in gzip zstd; do
    echo "ratio strata/docker ($comp): save $(ratio "${T[save-$comp]}" "${T[dsave]}")   load $(ratio "${T[load-$comp]}" "${T[dload]}") (medians); run by run: save ${T[spairs-$comp]}   load ${T[lpairs-$comp]}"
  done
  echo "== cross-loading"
  rm -rf "$work/xroot"
  if out=$($S --root "$work/xroot" load -i "$work/d.tar" 2>&1); then echo "strata load of docker save: OK ($out)"; else echo "strata load of docker save: FAILED: $out"; fi
  for comp in gzip zstd; do
    if out=$($D load -i "$work/strata-$comp.tar" 2>&1); then echo "docker load of strata save ($comp): OK ($out)"; else echo "docker load of strata save ($comp): FAILED: $out"; fi
  done
  $D rmi -f big:gzip big:zstd >/dev/null 2>&1 || true
else
  echo "== docker: not installed (apt-get install -y docker.io); no ratios"
fi
