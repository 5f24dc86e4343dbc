#!/usr/bin/env bash
# Networking costs, Strata's default network beside its --network none, the
# host itself and docker with its bridge, in turn on the same machine (see
# ../shared/PEERS.md):
#   1. start: pasta and slirp4netns alone on a fresh namespace (the choice in
#      internal/network/doc.go); `strata run --rm bb true` with --network none,
#      with the default network while another container keeps it up (warm: a
#      namespace and a veth), and as the only container (cold: pasta starts);
#      `docker run --rm bb true` with --network none and with its bridge.
#   2. TCP throughput of $MB MiB (512): container → a host-loopback server (Strata:
#      host-gateway through pasta; docker: its bridge and NAT, then the same
#      pasta) and host → container through -p (Strata: the monitor's proxy;
#      docker: docker-proxy, dialled in docker's namespace), beside host →
#      host on loopback; ratios.
#   3. name resolution on a user network: 1000 `getent ahosts web` (getaddrinfo,
#      as programs resolve; `getent hosts` asks AF_INET6 first, which the
#      hosts file has not, so each goes to the upstream DNS) in a Debian
#      container, per lookup (Strata: the hosts file; docker: its embedded DNS).
# docker runs as the bench's own dockerd (20.10, Debian's docker.io) inside a
# network namespace the bench makes, with iptables and its docker0 bridge
# there and one pasta giving that namespace outbound as Strata's networks
# have: nothing of it touches the host's namespace. DOCKER=0 leaves it out.
# Usage: bench/network.sh   (as root; runc, passt, nftables, busybox-static)
# Env: RUNS=20 MB=512 DEBIAN_CACHE=/var/cache/strata-test/debian-minbase (made by the
# tests) STRATA=a prebuilt strata binary (default: built from this tree)
# DOCKER=1
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
export PATH=/usr/local/go/bin:$PATH
RUNS=${RUNS:-20}
MB=${MB:-512}
DEBIAN_CACHE=${DEBIAN_CACHE:-/var/cache/strata-test/debian-minbase}
DOCKER=${DOCKER:-1}
if [[ -z ${STRATA:-} ]]; then
  CGO_ENABLED=0 go build -o bin/strata ./cmd/strata
  STRATA=$PWD/bin/strata
fi
work=$(mktemp -d /var/tmp/strata-netbench.XXXXXX)
R=$work/root
S="$STRATA --root $R"
D="/usr/bin/docker -H unix://$work/docker.sock"
pids=()
cleanup() {
  set +e
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  $S ps -aq 2>/dev/null | xargs -r $S rm -f >/dev/null 2>&1
  $S network prune -f >/dev/null 2>&1
  if [[ -s $work/docker.pid ]]; then
    $D ps -aq 2>/dev/null | xargs -r $D rm -f >/dev/null 2>&1
    kill "$(cat "$work/docker.pid")" 2>/dev/null
    while kill -0 "$(cat "$work/docker.pid" 2>/dev/null)" 2>/dev/null; do sleep 0.1; done
  fi
  [[ -s $work/dpasta.pid ]] && kill "$(cat "$work/dpasta.pid")" 2>/dev/null
  grep -o " $work[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ms() { echo "($1 - $2) * 1000" | bc; }   # ms: the difference of two times in seconds
now() { date +%s.%N; }
# timeloop NAME CMD: median seconds of RUNS runs of CMD.
declare -A T
timeloop() {
  local name=$1 cmd=$2 s
  bash -c "$cmd" >/dev/null 2>&1 || { echo "FAILED: $cmd" >&2; return 1; }
  T[$name]=$(for _ in $(seq "$RUNS"); do s=$(now); bash -c "$cmd" >/dev/null 2>&1; echo "$(now) - $s" | bc; done | median)
  printf '  %-44s %.4f s\n' "$name" "${T[$name]}"
}

bb=$work/bb
mkdir -p "$bb/bin" "$bb/etc" "$bb/tmp" "$bb/proc" "$bb/sys" "$bb/dev"
cp "$(readlink -f /bin/busybox)" "$bb/bin/busybox"
for a in $(busybox --list); do [[ $a == busybox ]] || ln -sf busybox "$bb/bin/$a"; done
echo "root:x:0:0:root:/root:/bin/sh" >"$bb/etc/passwd"
$S import -c 'CMD ["sh"]' "$bb" bb >/dev/null
if [[ $DOCKER == 1 ]] && [[ -x /usr/sbin/dockerd && -x /usr/bin/docker ]]; then
  # docker's namespace: pasta for outbound, as each Strata network has.
  dns=$work/dns
  touch "$dns" && unshare --net="$dns" true
  pasta --runas 0:0 --config-net -4 -q -t none -u none -T none -U none --pid "$work/dpasta.pid" --netns "$dns" 2>/dev/null
  nsenter --net="$dns" /usr/sbin/dockerd --data-root "$work/docker" --exec-root "$work/dexec" --pidfile "$work/docker.pid" \
    -H "unix://$work/docker.sock" --storage-driver overlay2 --containerd-namespace netbench \
    --containerd-plugins-namespace netbench-plugins >"$work/dockerd.log" 2>&1 &
  for _ in $(seq 600); do $D version >/dev/null 2>&1 && break; sleep 0.1; done
  $D version >/dev/null || { echo "dockerd did not start:" >&2; tail -5 "$work/dockerd.log" >&2; exit 1; }
  tar -C "$bb" -c . | $D import -c 'CMD ["sh"]' - bb >/dev/null
  dgw=$(nsenter --net="$dns" ip route | awk '/^default/{print $3}')
else
  DOCKER=0
fi

echo "== start"
ns=$work/ns
timeloop "pasta on a new namespace" "touch $ns && unshare --net=$ns true && pasta --runas 0:0 --config-net -4 -q -t none -u none -T none -U none --pid $work/p.pid --netns $ns 2>/dev/null; kill \$(cat $work/p.pid); umount -l $ns; rm -f $ns"
timeloop "slirp4netns on a new namespace" "touch $ns && unshare --net=$ns true && rm -f $work/ready && (slirp4netns --configure --disable-host-loopback --netns-type=path --ready-fd=3 $ns tap0 3>$work/ready >/dev/null 2>&1 & echo \$! >$work/s.pid); while [ ! -s $work/ready ]; do sleep 0.001; done; kill \$(cat $work/s.pid); umount -l $ns; rm -f $ns"
# The run cases go in turn within each round (none, cold, warm; docker's
# none and bridge), so a change of the machine's load falls on all alike.
# Each is timed around the whole command, from a warm-up run on.
declare -A ACC
once() { local k=$1 s; shift; s=$(now); "$@" >/dev/null 2>&1; ACC[$k]+="$(echo "$(now) - $s" | bc) "; }
for r in $(seq 0 "$RUNS"); do
  once none $S run --rm --network none bb true
  once cold $S run --rm bb true
  $S run -d --name keep bb sleep 3600 >/dev/null
  once warm $S run --rm bb true
  $S rm -f keep >/dev/null
  if [[ $DOCKER == 1 ]]; then
    once dnone $D run --rm --network none bb true
    once dbridge $D run --rm bb true
  fi
  if (( r == 0 )); then ACC=(); fi # the warm-up round
done
for k in none cold warm dnone dbridge; do [[ -n ${ACC[$k]:-} ]] && T[$k]=$(tr ' ' '\n' <<<"${ACC[$k]}" | grep . | median); done
printf '  %-44s %.4f s\n' "run --rm true --network none" "${T[none]}" "run --rm true, default network (cold)" "${T[cold]}" \
  "run --rm true, default network (warm)" "${T[warm]}"
printf "  Strata's network cost, warm: %.0f ms (%sx none); cold: %.0f ms (%sx none)\n" "$(ms "${T[warm]}" "${T[none]}")" "$(ratio "${T[warm]}" "${T[none]}")" "$(ms "${T[cold]}" "${T[none]}")" "$(ratio "${T[cold]}" "${T[none]}")"
if [[ $DOCKER == 1 ]]; then
  printf '  %-44s %.4f s\n' "docker run --rm true --network none" "${T[dnone]}" "docker run --rm true, bridge" "${T[dbridge]}"
  printf "  docker's bridge cost: %.0f ms (%sx none)\n" "$(ms "${T[dbridge]}" "${T[dnone]}")" "$(ratio "${T[dbridge]}" "${T[dnone]}")"
  echo "  Strata default (warm) / docker bridge: $(ratio "${T[warm]}" "${T[dbridge]}")x; cold: $(ratio "${T[cold]}" "${T[dbridge]}")x"
fi

echo "== throughput ($MB MiB a transfer, MB/s counted at the receiver)"
# busybox nc -l quits at the end of its standard input: the sinks read a
# fifo that this shell (and, in a container, the sink's shell) holds open.
mkfifo "$work/hold"
exec 7<>"$work/hold"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# tohost NAME ADDR RUNNER...: RUNNER runs sh -c SCRIPT, a script sending
# $MB MiB to ADDR:$port (ADDR: 127.0.0.1, or the gateway pasta maps to the
# host's loopback), into a sink on the host's loopback; the script times
# its own transfer (/proc/uptime), so a container's start is not counted.
# Prints MB/s and sets rate. Debian 12's pasta (2023-03) resets a long
# stream from a container to the host's loopback after some 100-200 MB on
# a busy machine: what arrived until then is counted, and the reset said.
tohost() {
  local name=$1 addr=$2 got t
  shift 2
  local script="s=\$(cut -d' ' -f1 /proc/uptime); dd if=/dev/zero bs=1M count=$MB 2>/dev/null | nc $addr $port; echo \$s \$(cut -d' ' -f1 /proc/uptime)"
  busybox nc -l -p "$port" <"$work/hold" | wc -c >"$work/got" &
  local sink=$!
  while ! grep -q ":$(printf %04X "$port") 00000000" /proc/net/tcp /proc/net/tcp6; do sleep 0.01; done
  t=$("$@" sh -c "$script" 2>/dev/null | tail -1 | awk '{print $2 - $1}') || true
  wait "$sink"
  got=$(cat "$work/got")
  rate=$(echo "scale=1; $got / 1048576 / $t" | bc)
  printf '  %-54s %8s MB/s' "$name" "$rate"
  (( got < MB * 1048576 )) && printf ' (reset after %d MiB)' $((got / 1048576))
  return 0
}
# topub NAME PORT [PREFIX]: send $MB MiB to 127.0.0.1:PORT (a published
# port; PREFIX runs the client elsewhere); prints MB/s and sets rate.
topub() {
  local s t
  s=$(now); dd if=/dev/zero bs=1M count="$MB" 2>/dev/null | ${3:-} busybox nc 127.0.0.1 "$2"; t=$(echo "$(now) - $s" | bc)
  rate=$(echo "scale=1; $MB / $t" | bc)
  printf '  %-54s %8s MB/s' "$1" "$rate"
}
mkdir -p "$work/nc" && ln -sf "$(command -v busybox)" "$work/nc/nc"   # the host's nc: busybox's, as in the containers
tohost "host → host loopback" 127.0.0.1 env PATH="$work/nc:$PATH"; host=$rate; echo
tohost "container → host loopback (pasta, host-gateway)" "\$(awk '/\thg\$/{print \$1}' /etc/hosts)" $S run --rm --add-host hg:host-gateway bb
out=$rate; echo " ($(ratio "$out" "$host")x the host)"
sinkcmd='mkfifo /tmp/h; exec 3<>/tmp/h; while :; do nc -l -p 9000 >/dev/null </tmp/h; done'
pport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# The sink listens again after each connection, so the probe costs nothing.
$S run -d --name sink -p 127.0.0.1:$pport:9000 bb sh -c "$sinkcmd" >/dev/null
until echo | busybox nc 127.0.0.1 "$pport" 2>/dev/null; do sleep 0.05; done
topub "host → container through -p (the monitor's proxy)" "$pport"; pub=$rate; echo " ($(ratio "$pub" "$host")x the host)"
$S rm -f sink >/dev/null
if [[ $DOCKER == 1 ]]; then
  tohost "docker: container → host loopback (bridge, NAT, pasta)" "$dgw" $D run --rm bb
  dout=$rate; echo " ($(ratio "$dout" "$host")x the host; Strata $(ratio "$out" "$dout")x docker)"
  $D run -d --name sink -p 127.0.0.1:$pport:9000 bb sh -c "$sinkcmd" >/dev/null
  until echo | nsenter --net="$dns" busybox nc 127.0.0.1 "$pport" 2>/dev/null; do sleep 0.05; done
  topub "docker: its host → container through -p (docker-proxy)" "$pport" "nsenter --net=$dns"; dpub=$rate
  echo " ($(ratio "$dpub" "$host")x the host; Strata $(ratio "$pub" "$dpub")x docker)"
  $D rm -f sink >/dev/null
fi

if [[ -x $DEBIAN_CACHE/bin/bash ]]; then
  echo "== name resolution (user network, hosts file)"
  $S import -c 'CMD ["bash"]' "$DEBIAN_CACHE" deb >/dev/null
  $S network create benchnet >/dev/null
  $S run -d --name web --network benchnet bb sleep 3600 >/dev/null
  out=$($S run --rm --network benchnet deb bash -c 's=$(date +%s%N); for i in $(seq 1000); do getent ahosts web >/dev/null; done; echo $(( ($(date +%s%N) - s) / 1000 ))')
  echo "  Strata, getent ahosts web: $(echo "scale=1; $out / 1000" | bc) µs a lookup (process start included)"
  $S rm -f web >/dev/null
  if [[ $DOCKER == 1 ]]; then
    tar -C "$DEBIAN_CACHE" -c . | $D import -c 'CMD ["bash"]' - deb >/dev/null
    $D network create benchnet >/dev/null
    $D run -d --name web --network benchnet bb sleep 3600 >/dev/null
    dout=$($D run --rm --network benchnet deb bash -c 's=$(date +%s%N); for i in $(seq 1000); do getent ahosts web >/dev/null; done; echo $(( ($(date +%s%N) - s) / 1000 ))')
    echo "  docker, getent ahosts web: $(echo "scale=1; $dout / 1000" | bc) µs a lookup (embedded DNS; Strata $(ratio "$out" "$dout")x docker)"
    $D rm -f web >/dev/null
  fi
fi
