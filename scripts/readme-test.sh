#!/usr/bin/env bash
# Runs the README's quick start and tour exactly as written: every ```sh
# block of its "## Quick start" section, in order, in one bash -e session.
# Only two things are substituted: the binary (bin/strata is the one given,
# so "make build" has nothing to do) and the store (/tmp/strata… paths
# become a temporary directory's). It runs in a network namespace of its own
# (loopback, and a veth pair with a default route that leads nowhere, so
# pasta finds an interface), so the tour's ports 8088 and 5000 never meet
# anything else on the machine and no packet leaves it.
#
#   scripts/readme-test.sh [path/to/strata]     (as root; default bin/strata)
#
# cmd/strata's TestReadme runs it with the binary the end-to-end tests build.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
bin=$(readlink -f "${1:-$repo/bin/strata}")
[[ -x $bin ]] || { echo "readme-test: no strata binary at $bin (make build)" >&2; exit 1; }

work=$(mktemp -d /tmp/strata-readme.XXXXXX)
store=$work/store
cleanup() {
  local rc=$?
  if [[ -d $store ]]; then
    ids=$("$bin" --root "$store" ps -aq 2>/dev/null || true)
    [[ -z $ids ]] || "$bin" --root "$store" rm -f $ids >/dev/null 2>&1 || true
    "$bin" --root "$store" network prune -f >/dev/null 2>&1 || true
    grep -o " $work[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  fi
  rm -rf "$work"
  exit $rc
}
trap cleanup EXIT

# The blocks: from "## Quick start" to the next "## " heading.
awk '
  /^## /      { inside = ($0 == "## Quick start") }
  inside && /^```sh$/ { code = 1; next }
  code && /^```$/     { code = 0; next }
  code                { print }
' "$repo/README.md" > "$work/blocks.sh"
[[ -s $work/blocks.sh ]] || { echo "readme-test: no sh blocks under '## Quick start' in README.md" >&2; exit 1; }
sed -i "s#/tmp/strata#$store#g" "$work/blocks.sh"

mkdir -p "$work/cwd/bin"
ln -s "$bin" "$work/cwd/bin/strata"
ln -s "$repo/examples" "$work/cwd/examples"
{
  echo 'set -euo pipefail'
  echo 'ip link set lo up'
  echo 'ip link add readme0 type veth peer name readme1 && ip link set readme1 up'
  echo 'ip addr add 198.18.0.1/24 dev readme0 && ip link set readme0 up'
  echo 'ip route add default via 198.18.0.254 dev readme0'
  echo 'make() { [[ $* == build && -x bin/strata ]]; }   # the binary is built already'
  echo 'set -v'   # each README line as it runs
  cat "$work/blocks.sh"
} > "$work/run.sh"
cd "$work/cwd"
# unshare -n: the namespace (and the veth pair) go when the last process in it does.
unshare -n bash "$work/run.sh"
echo "readme-test: the README's quick start and tour ran as written"
