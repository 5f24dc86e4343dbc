#!/usr/bin/env bash
# Store and layer benchmarks, Strata beside the one-core tools on the same input:
#   blob ingest (hash + write + fsync + rename) vs sha256sum of the same bytes
#   layer create (dir -> tar) vs tar -c; unpack (tar -> snapshot) vs tar -x
#   import of a Debian minbase rootfs, and peak memory of import at two sizes
# Usage: bench/store.sh   (as root; installs debootstrap and time; caches the rootfs in
# /var/cache/strata-bench)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
export PATH=/usr/local/go/bin:$PATH
CACHE=${STRATA_BENCH_CACHE:-/var/cache/strata-bench}
mkdir -p "$CACHE"
for p in debootstrap time; do
  dpkg -s "$p" >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq "$p" >/dev/null; }
done
ROOTFS=$CACHE/debian-minbase
if [[ ! -x $ROOTFS/bin/bash ]]; then
  mirror=$(debian_mirror)
  echo "making $ROOTFS from $mirror (about 30 s)"
  rm -rf "$ROOTFS"
  debootstrap --variant=minbase bookworm "$ROOTFS" "$mirror" >/dev/null
fi
go build -o bin/strata ./cmd/strata
work=$(mktemp -d /var/tmp/strata-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT

secs() { local s; s=$(date +%s.%N); "$@" >/dev/null 2>&1; echo "$(date +%s.%N) - $s" | bc; }
ratio() { echo "scale=2; $1 / $2" | bc; }

echo "== blob ingest vs sha256sum (512 MiB random)"
head -c $((512<<20)) /dev/urandom > "$work/blob"
sync
t_sum=$(secs sha256sum "$work/blob")
ing=$(go test -run '^$' -bench BenchmarkIngest -benchtime 3x ./internal/content/ | awk '/BenchmarkIngest/ {print $(NF-1)}')
t_dd=$(secs dd if="$work/blob" of="$work/blob.copy" bs=1M conv=fsync); rm -f "$work/blob.copy"
echo "strata ingest: $ing MB/s   sha256sum: $(echo "scale=0; 536.870912 / $t_sum" | bc) MB/s   dd conv=fsync (the disk): $(echo "scale=0; 536.870912 / $t_dd" | bc) MB/s"

echo "== layer create / unpack of $ROOTFS ($(du -sh "$ROOTFS" | cut -f1))"
out=$(STRATA_BENCH_ROOTFS=$ROOTFS go test -run '^$' -bench 'Benchmark(CreateUncompressed|CreateGzip|CreateZstd|Unpack)$' -benchtime 3x ./internal/layer/)
echo "$out" | grep Benchmark
t_tarc=$(secs tar -C "$ROOTFS" -cf "$work/l.tar" .)
mkdir "$work/x"; t_tarx=$(secs tar -C "$work/x" -xf "$work/l.tar"); rm -rf "$work/x"
size=$(stat -c %s "$work/l.tar")
ns() { echo "$out" | awk -v b="$1" '$1 ~ b {print $3}'; }
c=$(ns 'BenchmarkCreateUncompressed'); u=$(ns 'BenchmarkUnpack')
echo "tar -c: $t_tarc s   strata create: $(echo "scale=3; $c / 1000000000" | bc) s   ratio $(ratio "$(echo "scale=3; $c / 1000000000" | bc)" "$t_tarc")"
echo "tar -x: $t_tarx s   strata unpack: $(echo "scale=3; $u / 1000000000" | bc) s   ratio $(ratio "$(echo "scale=3; $u / 1000000000" | bc)" "$t_tarx")"

echo "== import (unpack + gzip + diffID + tar-split, one pass)"
export STRATA_ROOT=$work/root
t_imp=$(secs bin/strata import "$ROOTFS" debian:bench)
t_imp_z=$(secs bin/strata import --compression zstd "$ROOTFS" debian:zstd)
echo "import gzip: $t_imp s   zstd: $t_imp_z s   (tar -x alone: $t_tarx s)"

echo "== peak memory of import: 128 MiB vs 512 MiB of files"
for mb in 128 512; do
  d=$work/mem$mb; mkdir -p "$d"
  for i in $(seq 1 $((mb / 64))); do head -c $((64<<20)) /dev/urandom > "$d/f$i"; done
  rss=$( { /usr/bin/time -f '%M' bin/strata import --compression zstd "$d" mem:$mb >/dev/null; } 2>&1 | tail -1)
  echo "import of $mb MiB: max RSS $((rss / 1024)) MiB"
  rm -rf "$d"
done
