#!/usr/bin/env bash
# Networking costs, Strata's default network beside its --network none and the
# host itself, in turn on the same machine (see ../shared/PEERS.md):
#   1. start: pasta and slirp4netns alone on a fresh namespace (the choice in
#      internal/network/doc.go); `strata run --rm bb true` with --network none,
#      with the default network while another container keeps it up (warm: a
#      namespace and a veth), and as the only container (cold: pasta starts).
#   2. TCP throughput of 1 GiB: host → container through -p (the monitor's
#      proxy) and container → a host-loopback server (host-gateway, pasta),
#      beside host → host on loopback; ratios.
#   3. name resolution on a user network: 1000 `getent hosts web` in a Debian
#      container (the hosts file), per lookup.
# Usage: bench/network.sh   (as root; runc, passt, nftables, busybox-static)
# Env: RUNS=20 DEBIAN_CACHE=/var/cache/strata-test/debian-minbase (made by the tests)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH
RUNS=${RUNS:-20}
DEBIAN_CACHE=${DEBIAN_CACHE:-/var/cache/strata-test/debian-minbase}
CGO_ENABLED=0 go build -o bin/strata ./cmd/strata
work=$(mktemp -d /var/tmp/strata-netbench.XXXXXX)
R=$work/root
S="$PWD/bin/strata --root $R"
pids=()
cleanup() {
  set +e
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  $S ps -aq 2>/dev/null | xargs -r $S rm -f >/dev/null 2>&1
  $S network prune -f >/dev/null 2>&1
  grep -o " $work[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ratio() { echo "scale=2; $1 / $2" | bc; }
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

echo "== start"
ns=$work/ns
timeloop "pasta on a new namespace" "touch $ns && unshare --net=$ns true && pasta --runas 0:0 --config-net -4 -q -t none -u none -T none -U none --pid $work/p.pid --netns $ns 2>/dev/null; kill \$(cat $work/p.pid); umount -l $ns; rm -f $ns"
timeloop "slirp4netns on a new namespace" "touch $ns && unshare --net=$ns true && rm -f $work/ready && (slirp4netns --configure --disable-host-loopback --netns-type=path --ready-fd=3 $ns tap0 3>$work/ready >/dev/null 2>&1 & echo \$! >$work/s.pid); while [ ! -s $work/ready ]; do sleep 0.001; done; kill \$(cat $work/s.pid); umount -l $ns; rm -f $ns"
timeloop "run --rm true --network none" "$S run --rm --network none bb true"
timeloop "run --rm true, default network (cold)" "$S run --rm bb true"
$S run -d --name keep bb sleep 3600 >/dev/null
timeloop "run --rm true, default network (warm)" "$S run --rm bb true"
echo "  network cost, warm: $(echo "(${T["run --rm true, default network (warm)"]} - ${T["run --rm true --network none"]}) * 1000" | bc) ms; cold: $(echo "(${T["run --rm true, default network (cold)"]} - ${T["run --rm true --network none"]}) * 1000" | bc) ms"

echo "== throughput (1 GiB)"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
busybox nc -l -p "$port" >/dev/null & pids+=($!)
while ! grep -q ":$(printf %04X "$port") " /proc/net/tcp /proc/net/tcp6; do sleep 0.01; done
s=$(now); dd if=/dev/zero bs=1M count=1024 2>/dev/null | busybox nc 127.0.0.1 "$port"; host=$(echo "$(now) - $s" | bc)
printf '  %-44s %.3f s\n' "host → host loopback" "$host"
busybox nc -l -p "$port" >/dev/null & pids+=($!)
while ! grep -q ":$(printf %04X "$port") " /proc/net/tcp /proc/net/tcp6; do sleep 0.01; done
s=$(now); $S run --rm --add-host hg:host-gateway bb sh -c "dd if=/dev/zero bs=1M count=1024 2>/dev/null | nc \$(awk '/\thg\$/{print \$1}' /etc/hosts) $port"; out=$(echo "$(now) - $s" | bc)
printf '  %-44s %.3f s (%sx the host)\n' "container → host loopback (pasta, host-gateway)" "$out" "$(ratio "$out" "$host")"
pport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# The sink listens again after each connection, so the probe costs nothing.
$S run -d --name sink -p 127.0.0.1:$pport:9000 bb sh -c 'while :; do nc -l -p 9000 >/dev/null; done' >/dev/null
until echo | busybox nc 127.0.0.1 "$pport" 2>/dev/null; do sleep 0.05; done
s=$(now); dd if=/dev/zero bs=1M count=1024 2>/dev/null | busybox nc 127.0.0.1 "$pport"; pub=$(echo "$(now) - $s" | bc)
printf '  %-44s %.3f s (%sx the host)\n' "host → container through -p (proxy)" "$pub" "$(ratio "$pub" "$host")"
$S rm -f sink >/dev/null

if [[ -x $DEBIAN_CACHE/bin/bash ]]; then
  echo "== name resolution (user network, hosts file)"
  $S import -c 'CMD ["bash"]' "$DEBIAN_CACHE" deb >/dev/null
  $S network create benchnet >/dev/null
  $S run -d --name web --network benchnet bb sleep 3600 >/dev/null
  out=$($S run --rm --network benchnet deb bash -c 's=$(date +%s%N); for i in $(seq 1000); do getent hosts web >/dev/null; done; echo $(( ($(date +%s%N) - s) / 1000 ))')
  echo "  getent hosts web: $(echo "scale=1; $out / 1000" | bc) µs a lookup (process start included)"
  $S rm -f web >/dev/null
fi
