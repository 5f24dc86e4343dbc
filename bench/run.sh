#!/usr/bin/env bash
# Container start-up and commit, Strata beside its floor and docker, in turn on
# the same images and machine (see ../shared/PEERS.md):
#   1. `strata run --rm IMAGE true` on busybox and a Debian minbase image, beside
#      the floor (mount -t overlay + `runc run` of a prepared bundle + umount),
#      `runc run` alone, and `docker run --rm IMAGE true` when dockerd is there;
#      hyperfine if installed (else a loop), median, ratios.
#   2. commit of a container with 100 MB of changes (random bytes), beside
#      docker commit.
#   3. time to first byte through a published port (busybox httpd behind -p),
#      beside the same httpd on the host.
# Usage: bench/run.sh   (as root; runc required; docker.io optional)
# Env: RUNS=20 DEBIAN_CACHE=/var/cache/strata-bench/debian-minbase
#      STRATA_OLD=/path/to/an/older/strata: its run --rm taken in turn with this one's (root of its own)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
export PATH=/usr/local/go/bin:$PATH
RUNS=${RUNS:-20}
DEBIAN_CACHE=${DEBIAN_CACHE:-/var/cache/strata-bench/debian-minbase}
CGO_ENABLED=0 go build -o bin/strata ./cmd/strata
work=$(mktemp -d /var/tmp/strata-runbench.XXXXXX)
R=$work/root
S="$PWD/bin/strata --root $R"
DOCKER=/usr/bin/docker
DSOCK=unix:///run/bench-docker-run.sock
D="$DOCKER -H $DSOCK"
dockerd_pid=""
pids=()
cleanup() {
  set +e
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  $S ps -aq 2>/dev/null | xargs -r $S rm -f >/dev/null 2>&1
  if [[ -n $dockerd_pid ]]; then
    $D rm -f $($D ps -aq) >/dev/null 2>&1
    kill "$dockerd_pid" 2>/dev/null; wait "$dockerd_pid" 2>/dev/null
  fi
  grep -o " $work[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# timeit NAME CMD: median seconds of RUNS runs of CMD (a shell string).
declare -A T
timeit() {
  local name=$1 cmd=$2
  if command -v hyperfine >/dev/null; then
    hyperfine -N --warmup 3 --runs "$RUNS" --export-json "$work/h.json" "$cmd" >/dev/null 2>&1 ||
      hyperfine --warmup 3 --runs "$RUNS" --export-json "$work/h.json" "$cmd" >/dev/null
    T[$name]=$(jq -r '.results[0].median' "$work/h.json")
  else
    for _ in 1 2 3; do bash -c "$cmd" >/dev/null 2>&1; done
    T[$name]=$(for _ in $(seq "$RUNS"); do secs bash -c "$cmd"; done | median)
  fi
  printf '  %-34s %.4f s\n' "$name" "${T[$name]}"
}

echo "== images"
bb=$work/busybox
mkdir -p "$bb"/{bin,etc,tmp,root,proc,sys,dev,www}
cp /bin/busybox "$bb/bin/busybox"
for app in $(/bin/busybox --list); do [[ $app == busybox ]] || ln -s busybox "$bb/bin/$app"; done
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$bb/etc/passwd"
echo "hello" > "$bb/www/index.html"
if [[ ! -x $DEBIAN_CACHE/bin/bash ]]; then
  mirror=$(debian_mirror)
  echo "making $DEBIAN_CACHE with debootstrap from ${mirror:?no Debian mirror in the apt sources}"
  mkdir -p "$(dirname "$DEBIAN_CACHE")"
  debootstrap --variant=minbase bookworm "$DEBIAN_CACHE.tmp" "$mirror" >/dev/null
  mv "$DEBIAN_CACHE.tmp" "$DEBIAN_CACHE"
fi
$S import "$bb" bench/busybox >/dev/null
$S import "$DEBIAN_CACHE" bench/debian >/dev/null
O=""
if [[ -n ${STRATA_OLD:-} ]]; then
  O="$STRATA_OLD --root $work/oldroot"
  $O import "$bb" bench/busybox >/dev/null
  $O import "$DEBIAN_CACHE" bench/debian >/dev/null
fi
echo "strata images: $($S images --format "{{.Repository}} {{.Size}}" | tr "\n" " ")(driver $(cat "$R/driver"))"

echo "== floor: overlay mount + runc run + umount, on the same rootfs as the lower dir"
for img in busybox debian; do
  lower=$bb
  [[ $img == debian ]] && lower=$DEBIAN_CACHE
  b=$work/bundle-$img
  mkdir -p "$b/rootfs" "$b/upper" "$b/work"
  (cd "$b" && runc spec && jq '.process.args=["true"] | .process.terminal=false' config.json > c && mv c config.json)
  cat > "$work/floor-$img.sh" <<EOF
#!/bin/sh
rm -rf $b/upper $b/work && mkdir $b/upper $b/work
mount -t overlay overlay -o lowerdir=$lower,upperdir=$b/upper,workdir=$b/work $b/rootfs
runc --root $work/runc run -b $b floor-$img$$
umount $b/rootfs
EOF
  chmod +x "$work/floor-$img.sh"
  # strata mounts a --rm container's overlay volatile (no syncs, none at
  # umount): the floor with the same option, for a like-for-like ratio
  sed "s/,workdir=\([^ ]*\) /,workdir=\1,volatile /" "$work/floor-$img.sh" > "$work/floorv-$img.sh"
  chmod +x "$work/floorv-$img.sh"
  # runc alone: the rootfs already mounted
  mkdir -p "$b-plain"
  jq --arg root "$lower" '.root.path=$root' "$b/config.json" > "$b-plain/config.json"
done

# inturn NAME CMD [NAME CMD]...: the commands (simple commands, no shell)
# run one after the other, RUNS rounds (after 3 to warm up), median of
# each. On a shared machine the load moves between hyperfine's blocks of
# runs; taking the commands in turn gives them the same load, so their
# ratio holds.
inturn() {
  local -a names=() cmds=() times=()
  local i j t0 t1
  while (($#)); do names+=("$1"); cmds+=("$2"); shift 2; done
  for _ in 1 2 3; do for c in "${cmds[@]}"; do $c >/dev/null 2>&1; done; done
  for i in $(seq "$RUNS"); do
    for j in "${!cmds[@]}"; do
      t0=$EPOCHREALTIME; ${cmds[j]} >/dev/null 2>&1 || echo "FAILED: ${cmds[j]}" >&2; t1=$EPOCHREALTIME
      times[j]+="$(echo "$t1 - $t0" | bc) "
    done
  done
  for j in "${!cmds[@]}"; do
    T[${names[j]}]=$(printf '%s\n' ${times[j]} | median)
    printf '  %-34s %.4f s\n' "${names[j]}" "${T[${names[j]}]}"
  done
}

echo "== run --rm --network none IMAGE true, as docker's below (median of $RUNS; floor and strata in turn)   load: $(cut -d' ' -f1-3 /proc/loadavg)"
timeit "runc run (busybox)" "runc --root $work/runc run -b $work/bundle-busybox-plain plain-bb"
for img in busybox debian; do
  old=()
  [[ -z $O ]] || old=("old strata run --rm ($img)" "$O run --rm --network none bench/$img true")
  inturn "floor ($img)" "$work/floor-$img.sh" "strata run --rm ($img)" "$S run --rm --network none bench/$img true" \
    "floor, volatile overlay ($img)" "$work/floorv-$img.sh" "${old[@]}"
done

if [[ -x /usr/sbin/dockerd && -x $DOCKER ]]; then
  dockerd --data-root "$work/docker" --exec-root /run/bench-docker-run --pidfile /run/bench-docker-run.pid \
    --storage-driver overlay2 --iptables=false --ip-masq=false --bridge=none \
    -H "$DSOCK" >"$work/dockerd.log" 2>&1 &
  dockerd_pid=$!
  for _ in $(seq 100); do $D version >/dev/null 2>&1 && break; sleep 0.2; done
  tar -C "$bb" -c . | $D import - bench/busybox >/dev/null
  tar -C "$DEBIAN_CACHE" -c . | $D import - bench/debian >/dev/null
  for img in busybox debian; do
    timeit "docker run --rm ($img)" "$D run --rm --network none bench/$img true"
  done
else
  echo "  (docker not installed: no docker figures)"
fi

echo "== ratios (target: strata <= 1.4x the floor, <= 0.5x docker)"
for img in busybox debian; do
  line="  $img: strata/floor $(ratio "${T[strata run --rm ($img)]}" "${T[floor ($img)]}")"
  line+="   strata/volatile-floor $(ratio "${T[strata run --rm ($img)]}" "${T[floor, volatile overlay ($img)]}")"
  [[ -n ${T[docker run --rm ($img)]:-} ]] && line+="   strata/docker $(ratio "${T[strata run --rm ($img)]}" "${T[docker run --rm ($img)]}")"
  [[ -z $O ]] || line+="   strata/old $(ratio "${T[strata run --rm ($img)]}" "${T[old strata run --rm ($img)]}")"
  echo "$line"
done

echo "== commit of a container with 100 MB of changes (random bytes)"
cs=()
for r in 1 2 3; do
  $S run --name big$r bench/debian sh -c 'head -c 104857600 /dev/urandom > /big.bin' >/dev/null
  cs+=("$(secs $S commit big$r bench/big:$r)")
  $S rm big$r >/dev/null; $S rmi bench/big:$r >/dev/null
done
T[commit]=$(printf '%s\n' "${cs[@]}" | median)
printf '  %-34s %.3f s\n' "strata commit" "${T[commit]}"
if [[ -n $dockerd_pid ]]; then
  ds=()
  for r in 1 2 3; do
    $D run --name big$r --network none bench/debian sh -c 'head -c 104857600 /dev/urandom > /big.bin' >/dev/null
    ds+=("$(secs $D commit big$r bench/big:$r)")
    $D rm big$r >/dev/null; $D rmi bench/big:$r >/dev/null
  done
  T[dcommit]=$(printf '%s\n' "${ds[@]}" | median)
  printf '  %-34s %.3f s   (strata/docker %s)\n' "docker commit" "${T[dcommit]}" "$(ratio "${T[commit]}" "${T[dcommit]}")"
fi

echo "== time to first byte through a published port (busybox httpd, $RUNS requests each)"
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
p1=$(port)
$S run -d --name web -p 127.0.0.1:$p1:80 bench/busybox httpd -f -p 80 -h /www >/dev/null
p2=$(port)
/bin/busybox httpd -f -p 127.0.0.1:$p2 -h "$bb/www" &
pids+=($!)
for p in $p1 $p2; do for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$p/" && break; sleep 0.1; done; done
ttfb() { for _ in $(seq "$RUNS"); do curl -s -o /dev/null -w '%{time_starttransfer}\n' "http://127.0.0.1:$1/index.html"; done | median; }
T[ttfb]=$(ttfb "$p1"); T[ttfbhost]=$(ttfb "$p2")
printf '  %-34s %.6f s\n' "strata -p (proxy into the netns)" "${T[ttfb]}" "httpd on the host" "${T[ttfbhost]}"
s0=$(date +%s.%N)
$S run -d --name web2 -p 127.0.0.1:$(port):80 bench/busybox httpd -f -p 80 -h /www >/dev/null
p3=$($S inspect --format '{{range $k, $v := .NetworkSettings.Ports}}{{(index $v 0).HostPort}}{{end}}' web2)
until curl -s -o /dev/null "http://127.0.0.1:$p3/"; do sleep 0.005; done
printf '  %-34s %.3f s\n' "run -d until the first answer" "$(echo "$(date +%s.%N) - $s0" | bc)"
$S rm -f web web2 >/dev/null
