# Sourced by scripts/test.sh: a dockerd of the tests' own, so the tests that
# compare Strata with docker (internal/build TestSameAsDocker, internal/e2e
# TestDockerInterop and TestSecurityPostureSameAsDocker) run instead of
# skipping. Its socket, data-root,
# exec-root and pidfile are Strata CI's alone (never /var/lib/docker or
# /run/docker.sock), so it cannot meet another dockerd on the machine, and
# it is stopped by its pid. Where dockerd is missing or cannot start, it
# says why and those tests skip; everything else still runs.
#
#   ci_dockerd_start   exports STRATA_TEST_DOCKER_HOST when the daemon answers
#   ci_dockerd_stop    stops it (and the containerd it started) by pid
#
# The flags are those of ../shared/PEERS.md: no iptables, no bridge (so
# containers get only lo), overlay2.

CI_DOCKER_SOCK=${STRATA_CI_DOCKER_SOCK:-/run/strata-ci-docker.sock}
CI_DOCKER_DATA=${STRATA_CI_DOCKER_DATA:-/var/lib/strata-ci-docker}
CI_DOCKER_EXEC=${STRATA_CI_DOCKER_EXEC:-/run/strata-ci-docker}
CI_DOCKER_PIDFILE=${STRATA_CI_DOCKER_PIDFILE:-/run/strata-ci-docker.pid}
CI_DOCKER_LOG=${STRATA_CI_DOCKER_LOG:-/tmp/strata-ci-dockerd.log}
# The Debian client, called by path: another docker may come first on PATH.
CI_DOCKER=/usr/bin/docker
CI_DOCKERD=/usr/sbin/dockerd
CI_DOCKERD_PID=

# ci_dockerd_kill PID: TERM, up to 30 s for a clean shutdown, then KILL.
ci_dockerd_kill() {
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for i in $(seq 1 150); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.2
  done
  echo "docker: dockerd $pid still running after 30 s; killing it" >&2
  kill -KILL "$pid" 2>/dev/null || true
}

# ci_dockerd_containerd_pid: the containerd this dockerd supervises.
ci_dockerd_containerd_pid() {
  local pid
  pid=$(cat "$CI_DOCKER_EXEC/containerd/containerd.pid" 2>/dev/null) || return 0
  # only while it is still that containerd (a pid can be reused)
  if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "--config $CI_DOCKER_EXEC/"; then
    echo "$pid"
  fi
}

ci_dockerd_start() {
  if [[ $(id -u) != 0 ]]; then
    echo "docker: not root, no dockerd of our own; the docker comparison tests will skip" >&2
    return 0
  fi
  if [[ ! -x $CI_DOCKERD || ! -x $CI_DOCKER ]]; then
    echo "docker: $CI_DOCKERD or $CI_DOCKER missing (apt-get install docker.io); the docker comparison tests will skip" >&2
    return 0
  fi
  # A daemon left by an earlier run that was killed before its trap ran:
  # it carries our pidfile and data-root, so it is ours to stop.
  local old
  old=$(cat "$CI_DOCKER_PIDFILE" 2>/dev/null || true)
  if [[ -n $old ]] && kill -0 "$old" 2>/dev/null && tr '\0' ' ' <"/proc/$old/cmdline" | grep -q -- "--data-root $CI_DOCKER_DATA"; then
    echo "docker: stopping dockerd $old left by an earlier run" >&2
    local oldc
    oldc=$(ci_dockerd_containerd_pid)
    ci_dockerd_kill "$old"
    [[ -z $oldc ]] || ci_dockerd_kill "$oldc"
  fi
  # A fresh data-root each run: images and build cache of the last run
  # must not make this one pass. Unmount what a killed daemon left first,
  # the data-root itself too (dockerd bind-mounts it on itself to make it
  # shared, and only a clean shutdown undoes that).
  grep -oE " ($CI_DOCKER_DATA|$CI_DOCKER_EXEC)(/[^ ]*)? " /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  if ! rm -rf "$CI_DOCKER_DATA" "$CI_DOCKER_EXEC" || ! mkdir -p "$CI_DOCKER_DATA"; then
    echo "docker: cannot make a fresh $CI_DOCKER_DATA; the docker comparison tests will skip" >&2
    return 0
  fi
  "$CI_DOCKERD" --data-root "$CI_DOCKER_DATA" --exec-root "$CI_DOCKER_EXEC" --pidfile "$CI_DOCKER_PIDFILE" \
    -H "unix://$CI_DOCKER_SOCK" --storage-driver overlay2 --iptables=false --ip-masq=false --bridge=none \
    --containerd-namespace strata-ci --containerd-plugins-namespace strata-ci-plugins \
    >"$CI_DOCKER_LOG" 2>&1 &
  CI_DOCKERD_PID=$!
  local start=$SECONDS i
  for i in $(seq 1 150); do
    if ! kill -0 "$CI_DOCKERD_PID" 2>/dev/null; then
      echo "docker: dockerd exited while starting; the docker comparison tests will skip. Its log ($CI_DOCKER_LOG) ends:" >&2
      tail -5 "$CI_DOCKER_LOG" >&2
      wait "$CI_DOCKERD_PID" 2>/dev/null || true
      CI_DOCKERD_PID=
      return 0
    fi
    if "$CI_DOCKER" -H "unix://$CI_DOCKER_SOCK" version >/dev/null 2>&1; then
      export STRATA_TEST_DOCKER_HOST="unix://$CI_DOCKER_SOCK"
      echo "docker: dockerd $CI_DOCKERD_PID answering on $CI_DOCKER_SOCK after $((SECONDS - start)) s"
      return 0
    fi
    sleep 0.2
  done
  echo "docker: dockerd did not answer on $CI_DOCKER_SOCK within 30 s; stopping it, the docker comparison tests will skip. Its log ends:" >&2
  tail -5 "$CI_DOCKER_LOG" >&2
  ci_dockerd_stop
}

ci_dockerd_stop() {
  [[ -n $CI_DOCKERD_PID ]] || return 0
  local cpid start=$SECONDS
  cpid=$(ci_dockerd_containerd_pid)
  ci_dockerd_kill "$CI_DOCKERD_PID"
  wait "$CI_DOCKERD_PID" 2>/dev/null || true
  # dockerd stops the containerd it started; if it was killed, we do.
  if [[ -n $cpid ]] && kill -0 "$cpid" 2>/dev/null; then
    ci_dockerd_kill "$cpid"
  fi
  # Leave nothing behind: the images the tests made go with the data-root.
  grep -oE " ($CI_DOCKER_DATA|$CI_DOCKER_EXEC)(/[^ ]*)? " /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$CI_DOCKER_DATA" "$CI_DOCKER_EXEC"
  # on stderr: the last line of stdout is the summary CI reads
  echo "docker: dockerd $CI_DOCKERD_PID stopped, its data-root removed, in $((SECONDS - start)) s" >&2
  CI_DOCKERD_PID=
  unset STRATA_TEST_DOCKER_HOST
}
