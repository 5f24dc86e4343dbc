# Part of scripts/demo.sh: a private registry with htpasswd (bcrypt) auth.
echo
echo "== a private registry with htpasswd auth on loopback"
REG_ADDR=${STRATA_DEMO_REGISTRY:-127.0.0.1:5000}
REG_ROOT=$work/registry
htpasswd -Bbc "$work/htpasswd" demo demo-pass >/dev/null 2>&1
printf '$ strata registry serve --addr %s --root %s --htpasswd %s &\n' "$REG_ADDR" "$REG_ROOT" "$work/htpasswd"
"$STRATA" registry serve --addr "$REG_ADDR" --root "$REG_ROOT" --htpasswd "$work/htpasswd" --access-log "$work/registry.log" &
DEMO_PIDS+=($!)
for _ in $(seq 50); do curl -s -o /dev/null "http://$REG_ADDR/v2/" && break; sleep 0.1; done
printf '$ curl http://%s/v2/            -> ' "$REG_ADDR"; curl -s -o /dev/null -w '%{http_code} (no credentials)\n' "http://$REG_ADDR/v2/"
printf '$ curl -u demo:demo-pass http://%s/v2/ -> ' "$REG_ADDR"; curl -s -o /dev/null -w '%{http_code}\n' -u demo:demo-pass "http://$REG_ADDR/v2/"
