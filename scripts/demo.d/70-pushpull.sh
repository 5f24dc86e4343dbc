# Part of scripts/demo.sh: push to the demo registry (htpasswd auth), remove the
# image, pull it back (the shared busybox layer is "Already exists"), run it.
echo
echo "== push and pull through the registry, with login"
export DOCKER_CONFIG=$work/docker-config   # the demo's credentials stay in the demo
REF=$REG_ADDR/demo/web:1
printf '$ echo demo-pass | strata login %s -u demo --password-stdin\n' "$REG_ADDR"
echo demo-pass | "$STRATA" login "$REG_ADDR" -u demo --password-stdin
step tag demo/web:1 "$REF"
step push "$REF"
step push "$REF"            # again: every layer is already there
step rmi "$REF" demo/web:1  # the image goes; its busybox base stays (demo/busybox:1 uses it)
step pull "$REF"
step run --rm "$REF" cat /www/index.html
step images
