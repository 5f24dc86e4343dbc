# Sourced by the bench scripts (after their cd to the repository): the
# helpers they share. A script whose helper differs on purpose (build.sh's
# secs keeps the failing output; the medians differ in their rounding)
# keeps its own.

# secs CMD...: wall seconds of CMD, its output dropped; a failure says
# FAILED and returns 1.
secs() {
  local s; s=$(date +%s.%N)
  "$@" >/dev/null 2>&1 || { echo "FAILED: $*" >&2; return 1; }
  echo "$(date +%s.%N) - $s" | bc
}

# ratio A B [PLACES]: A / B to two places, or PLACES (Strata's figure over
# the peer's).
ratio() { echo "scale=${3:-2}; $1 / $2" | bc; }

# free_port: a free loopback port from PORTS (first-last, which the script
# sets: the range it may use on a shared machine), tried in random order.
free_port() {
  python3 - "${PORTS%-*}" "${PORTS#*-}" <<'PY'
import random, socket, sys
lo, hi = int(sys.argv[1]), int(sys.argv[2])
ports = list(range(lo, hi + 1)); random.shuffle(ports)
for p in ports:
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p)); print(p); break
    except OSError:
        pass
    finally:
        s.close()
else:
    sys.exit("no free port in %d-%d" % (lo, hi))
PY
}

# peers_workload DIR BASE: PEERS.md's build workload in DIR, FROM BASE: a
# context of 2,000 files of 52,429 random bytes in 20 directories (105 MB)
# and the Dockerfile that generates 5,000 files, copies the context and
# deletes part of both.
peers_workload() {
  local dir=$1 base=$2 d f
  mkdir -p "$dir/ctx"
  for d in $(seq -w 0 19); do
    mkdir -p "$dir/ctx/d$d"
    for f in $(seq 1 100); do head -c 52429 /dev/urandom >"$dir/ctx/d$d/f$f"; done
  done
  cat >"$dir/Dockerfile" <<DF
FROM $base
ENV APP_HOME=/app LANG=C.UTF-8
WORKDIR /app
RUN mkdir -p /opt/gen && cd /opt/gen && for i in \$(seq 1 5000); do echo "generated file \$i" > f\$i.txt; done
COPY ctx/ /app/ctx/
RUN rm -rf /app/ctx/d00 /app/ctx/d01 /opt/gen/f1*.txt
CMD ["/bin/sh", "-c", "ls -R /app | wc -l"]
DF
}

# debian_mirror: the first Debian mirror of the apt sources (one-line
# `deb [opts] URL` and deb822 `URIs:` forms alike), commented lines and
# the security archive skipped, as internal/testutil.DebianMirror finds it.
debian_mirror() {
  grep -hv '^[[:space:]]*#' /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null |
    grep -oE 'https?://[^ ]+' | grep debian | grep -v security | head -1 || true
}

# fresh_root DIR [PATH...]: remove DIR (a store of the run before) and
# bring the machine to the same state before each timed run: written back
# (sync), the clean page cache dropped, then the inputs PATH (files, or
# directories read whole) read back in. Without the drop, the run after
# a removal of thousands of files can pay seconds of system time: ext4
# without a journal (this VM's root) skips, when it allocates an inode,
# every free inode deleted in the last 60 s whose inode table block is
# still cached (ialloc.c, recently_deleted), and a store's files are
# created in the groups the removed store's were freed from: a perf
# profile of such a pull had a quarter of its samples there, and the same
# pull took 0.9 s or 4.9 s. Dropping caches is machine-wide: run benches
# on a machine doing nothing else. DIR "" removes nothing (a peer whose
# store its own command emptied: docker rmi).
fresh_root() {
  local dir=$1; shift
  [[ -z $dir ]] || rm -rf "$dir"
  sync
  echo 1 > /proc/sys/vm/drop_caches 2>/dev/null || true
  if (( $# )); then find "$@" -type f -exec cat {} + > /dev/null; fi
}
