#!/usr/bin/env bash
# Installs what Strata's demo and tests need on a fresh Debian 12 machine (as root).
# openssh-client gives ssh-agent/ssh-keygen to the RUN --mount=type=ssh tests.
# umoci reads the archives save writes (TestSavedArchiveReadByPeers, beside skopeo).
# docker.io is for the tests that compare with docker (scripts/ci-dockerd.sh starts its dockerd);
# docker-compose (1.29, with python3-docker) drives the Engine API in TestEngineAPICompose.
# postgresql (15) is the registry's shared index in the replica tests; they run a throwaway cluster
# of their own (initdb/pg_ctl as the postgres user), never the packaged service.
# Idempotent: packages already present are not fetched again.
set -euo pipefail
need=()
# passt (pasta) and nftables: the default and user-defined networks (internal/network).
for pkg in runc busybox-static debootstrap apache2-utils curl iproute2 skopeo umoci docker-registry docker.io docker-compose zstd jq openssh-client postgresql passt nftables; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if ((${#need[@]})); then
  if [[ $(id -u) != 0 ]]; then
    echo "setup: missing packages ${need[*]}; run as root (apt-get install -y ${need[*]})" >&2
    exit 1
  fi
  echo "setup: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi
command -v go >/dev/null || { echo "setup: Go is required (found none on PATH; /usr/local/go/bin?)" >&2; exit 1; }
