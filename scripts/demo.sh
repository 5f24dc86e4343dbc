#!/usr/bin/env bash
# Strata's demo: its main job end to end on a built-in default, a busybox root
# filesystem made from Debian's busybox-static. Each step prints the command
# it runs. The store is a fresh one in $STRATA_DEMO_ROOT (default
# /tmp/strata-demo), so the demo never touches /var/lib/strata.
set -euo pipefail
STRATA=$(readlink -f "${1:-bin/strata}")
export STRATA_ROOT=${STRATA_DEMO_ROOT:-/tmp/strata-demo}
work=$(mktemp -d /tmp/strata-demo-work.XXXXXX)
DEMO_PIDS=()
cleanup() {
  for pid in "${DEMO_PIDS[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT

step() { printf "\n$ strata %s\n" "$*"; "$STRATA" "$@"; }

# A fresh store: unmount anything a previous demo left, then remove it.
if [[ -d $STRATA_ROOT ]]; then
  grep -o " $STRATA_ROOT[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$STRATA_ROOT"
fi

echo "== a busybox root filesystem from /bin/busybox (busybox-static)"
rootfs=$work/busybox
mkdir -p "$rootfs"/{bin,etc,tmp,root,proc,sys,dev}
cp /bin/busybox "$rootfs/bin/busybox"
for app in $(/bin/busybox --list); do
  [[ $app == busybox ]] || ln -s busybox "$rootfs/bin/$app"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$rootfs/etc/group"
echo "rootfs: $(find "$rootfs" | wc -l) entries, $(du -sh "$rootfs" | cut -f1)"

step import --change 'CMD ["/bin/sh"]' -m "busybox from Debian's busybox-static" "$rootfs" demo/busybox:latest
step tag demo/busybox:latest demo/busybox:1
step images
step inspect --format '{{.Id}} {{.Os}}/{{.Architecture}} layers={{len .RootFS.Layers}} cmd={{json .Config.Cmd}}' demo/busybox
step history demo/busybox
step system df -v
step system fsck

for f in "$(dirname "$0")"/demo.d/*.sh; do
  [[ -e $f ]] || continue
  # later features add their part of the demo here, in order
  # shellcheck source=/dev/null
  source "$f"
done
echo
echo "demo done; the store is in $STRATA_ROOT"
