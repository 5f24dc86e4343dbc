# Part of scripts/demo.sh: a multi-stage Dockerfile build, a rebuild from the
# cache, its history (every row's real layer, no <missing>), and a run.
echo
echo "== build from a Dockerfile (examples/hello), then again from the cache"
HELLO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../examples/hello" && pwd)
step tag demo/busybox:1 busybox:latest
step build -t hello:demo "$HELLO"
step build -t hello:demo "$HELLO"
step history hello:demo
step run --rm hello:demo
