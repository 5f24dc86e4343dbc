#!/usr/bin/env bash
# Runs every test of Strata: unit, end-to-end, race, and each fuzz target briefly.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH
# A count, not a duration: a duration-bounded run can end with a spurious "context
# deadline exceeded" when a worker is mid-input at the deadline.
FUZZTIME=${FUZZTIME:-2000x}

# Real registry clients (crane, oras, regctl via go install; skopeo via apt) for
# the registry's end-to-end tests: about a minute the first time, cached after.
scripts/install-clients.sh || echo "warning: registry clients not installed; their tests will skip" >&2

# A dockerd of the tests' own, so the comparisons with docker (docker build,
# docker load/save) run rather than skip; stopped by pid on any exit, a
# failure or Ctrl-C included. STRATA_CI_DOCKER=0 leaves it out.
. scripts/ci-dockerd.sh
trap ci_dockerd_stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
if [[ ${STRATA_CI_DOCKER:-1} != 0 ]]; then
  ci_dockerd_start
fi

echo "== go test ./..."
set +e
go test -count=1 -v -timeout 20m ./... > /tmp/strata-test.log 2>&1
status=$?
set -e
# package results, every failure and skip with its reason
grep -E '^(ok|FAIL|---|panic:)|^\s+--- (FAIL|SKIP)' /tmp/strata-test.log | grep -v -- '--- PASS' || true
pass=$(grep -cE '^\s*--- PASS' /tmp/strata-test.log || true)
fail=$(grep -cE '^\s*--- FAIL' /tmp/strata-test.log || true)
skip=$(grep -cE '^\s*--- SKIP' /tmp/strata-test.log || true)
if [[ $status != 0 ]]; then
  grep -B2 -A20 -E '^\s*--- FAIL' /tmp/strata-test.log | head -150
  echo "$pass passed, $fail failed, $skip skipped"
  echo "go test failed (full log: /tmp/strata-test.log)" >&2
  exit "$status"
fi

# testcontainers-go drives the Engine API from a module of its own (so the main module does
# not carry it); it builds strata itself and skips without root.
echo "== testcontainers-go (tests/testcontainers)"
(cd tests/testcontainers && go test -count=1 -timeout 10m .)

echo "== go test -race (packages with goroutines)"
race_pkgs=()
for p in ./internal/content ./internal/metadata ./internal/engine ./internal/registry/... ./internal/remote/... ./internal/build/... ./internal/progress; do
  [[ -d ${p%/...} ]] && race_pkgs+=("$p")
done
# The docker comparisons ran above; under -race they would only add time.
env -u STRATA_TEST_DOCKER_HOST go test -count=1 -race -timeout 15m "${race_pkgs[@]}"

echo "== fuzz (each target $FUZZTIME inputs)"
while read -r file; do
  pkg=./$(dirname "$file")
  for f in $(grep -oE '^func (Fuzz[A-Za-z0-9_]+)' "$file" | awk '{print $2}'); do
    echo "-- $pkg $f"
    go test -run '^$' -fuzz "^$f\$" -fuzztime "$FUZZTIME" -fuzzminimizetime 1s "$pkg" >/tmp/strata-fuzz.log 2>&1 || { cat /tmp/strata-fuzz.log; exit 1; }
  done
done < <(grep -rl --include='*_test.go' '^func Fuzz' internal | sort)

# The plain closing line CI reads.
echo "$pass passed, $fail failed, $skip skipped"
