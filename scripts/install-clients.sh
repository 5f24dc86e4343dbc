#!/usr/bin/env bash
# Installs the registry clients that internal/registry/clients_e2e_test.go drives against Strata's
# registry: skopeo from Debian, and crane, oras and regctl built with `go install` into a cache
# directory (GOBIN) that the test also searches. Also versitygw, the S3 server the registry's
# S3 back-end tests run against (about 2 minutes to build on an idle machine, once).
# Idempotent: a tool already in the cache at the pinned version is not rebuilt. Each step is
# bounded by `timeout 300` (versitygw's build by 1800).
#
#   scripts/install-clients.sh            # everything
#   STRATA_TOOLS_BIN=/some/dir scripts/install-clients.sh
set -euo pipefail

BIN="${STRATA_TOOLS_BIN:-/var/cache/strata-tools/bin}"
mkdir -p "$BIN"

# Versions the Go module proxy serves (checked with `go list -m -versions`).
CRANE="github.com/google/go-containerregistry/cmd/crane@v0.22.1"
ORAS="oras.land/oras/cmd/oras@v1.3.6"
REGCTL="github.com/regclient/regclient/cmd/regctl@v0.11.7"
VERSITYGW="github.com/versity/versitygw/cmd/versitygw@v1.8.0"

if ! command -v skopeo >/dev/null; then
	timeout 300 apt-get update -qq
	DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y -qq skopeo >/dev/null
fi

install_go() { # name module@version [timeout seconds]
	local name=$1 pkg=$2 limit=${3:-300} stamp="$BIN/.$1.version"
	if [[ -x "$BIN/$name" && -f "$stamp" && "$(cat "$stamp")" == "$pkg" ]]; then
		echo "$name: cached ($pkg)"
		return
	fi
	local start=$SECONDS
	GOBIN="$BIN" CGO_ENABLED=0 GOFLAGS=-buildvcs=false timeout "$limit" go install "$pkg"
	echo "$pkg" >"$stamp"
	echo "$name: installed $pkg in $((SECONDS - start)) s"
}

install_go crane "$CRANE"
install_go oras "$ORAS"
install_go regctl "$REGCTL"
install_go versitygw "$VERSITYGW" 1800
echo "clients in $BIN: $(ls "$BIN" | tr '\n' ' ')"
