# Part of scripts/demo.sh: a container on an overlay mount, a published port,
# exec, diff, commit, and the committed image run.
echo
echo "== containers: the image's layers read-only below, the container's writes on top"
WEB_PORT=${STRATA_DEMO_WEB_PORT:-8088}
"$STRATA" rm -f demo-web demo-web2 >/dev/null 2>&1 || true
step run -d --name demo-web -p "127.0.0.1:$WEB_PORT:80" demo/busybox \
  sh -c 'mkdir -p /www && echo "hello from a strata container" > /www/index.html && exec httpd -f -v -p 80 -h /www'
step ps
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$WEB_PORT/" && break; sleep 0.1; done
printf '$ curl http://127.0.0.1:%s/\n' "$WEB_PORT"; curl -s "http://127.0.0.1:$WEB_PORT/"
step exec demo-web sh -c 'echo "changed by exec" > /www/index.html; echo note > /etc/motd; rm /bin/vi; hostname'
printf '$ curl http://127.0.0.1:%s/\n' "$WEB_PORT"; curl -s "http://127.0.0.1:$WEB_PORT/"
step diff demo-web
step logs demo-web
step commit -m "web page, motd, no vi" -a "strata demo" demo-web demo/web:1
step history demo/web:1
step run --rm demo/web:1 sh -c 'cat /www/index.html /etc/motd; ls /bin/vi 2>&1 || true'
# Removing the image (every name of it, by ID) is refused while demo-web uses it.
step rmi -f "$("$STRATA" images -q demo/busybox | head -1)" || true
step stop -t 1 demo-web
step ps -a -s
step rm demo-web
printf '$ grep -c containers /proc/mounts -> '; grep -c "$STRATA_ROOT/containers" /proc/mounts || true
step system fsck
