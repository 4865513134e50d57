#!/usr/bin/env bash
# Container check: builds the project's Dockerfile, unchanged, against a local stand-in for
# the official Deno image, runs it with podman with config and data mounted, publishes and
# subscribes through it, stops it with SIGTERM and checks that it exits 0. Removes every
# container and image it made; only the Debian base rootfs is cached (see docs/deploy.md,
# "Container check").
#
# Needs root, podman, buildah, debootstrap, runc, slirp4netns, curl and deno. Fails
# (non-zero) when anything is missing; it never skips.
#
# Environment:
#   DENOPUBSUB_CONTAINER_CACHE  cache directory (default ~/.cache/denopubsub/container)
#   DEBIAN_MIRROR               mirror for debootstrap (default http://deb.debian.org/debian)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CACHE=${DENOPUBSUB_CONTAINER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/denopubsub/container}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
BASE_TAR=$CACHE/debian-bookworm-minbase.tar
STOP_TIMEOUT=10
START=$SECONDS
PHASE_START=$SECONDS

fail() {
  echo "container check FAILED: $*" >&2
  exit 1
}

phase() {
  echo "[container-check] $1 ($((SECONDS - PHASE_START)) s)"
  PHASE_START=$SECONDS
}

require_tools() {
  [ "$(id -u)" = 0 ] || fail "must run as root (debootstrap, rootful podman with vfs storage)"
  local tool
  for tool in podman buildah debootstrap runc slirp4netns curl deno tar; do
    command -v "$tool" >/dev/null || fail "'$tool' is not installed"
  done
}

# The stand-in must be the Deno version the Dockerfile pins, or the check proves nothing.
check_pinned_version() {
  local pinned host
  pinned=$(sed -n 's/^ARG DENO_IMAGE=denoland\/deno:debian-\([0-9.]*\)$/\1/p' "$ROOT/Dockerfile")
  host=$(deno eval --no-config 'console.log(Deno.version.deno)')
  [ -n "$pinned" ] || fail "Dockerfile has no 'ARG DENO_IMAGE=denoland/deno:debian-X.Y.Z' line"
  [ "$pinned" = "$host" ] || fail "Dockerfile pins Deno $pinned but the local deno is $host"
  DENO_VERSION=$host
}

# Everything podman and buildah write goes under $WORK; vfs storage and cgroupfs because
# overlay and systemd are not available, lowered ulimits because raising them is not
# allowed, slirp4netns so that no bridge or firewall rule is created on the host.
configure_podman() {
  mkdir -p "$WORK/tmp" "$WORK/networks" "$WORK/libpod"
  cat >"$WORK/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]
netns = "slirp4netns"

[network]
network_config_dir = "$WORK/networks"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$WORK/events.log"
tmp_dir = "$WORK/libpod"
EOF
  cat >"$WORK/storage.conf" <<EOF
[storage]
driver = "vfs"
graphroot = "$WORK/storage"
runroot = "$WORK/run"
EOF
  export CONTAINERS_CONF=$WORK/containers.conf
  export CONTAINERS_STORAGE_CONF=$WORK/storage.conf
  export TMPDIR=$WORK/tmp
}

# The slow part (about 45 s): a minimal Debian, downloaded once and kept as a tarball.
ensure_base_rootfs() {
  if [ -s "$BASE_TAR" ]; then
    phase "base rootfs from cache $BASE_TAR"
    return
  fi
  mkdir -p "$CACHE"
  local rootfs=$WORK/debootstrap
  debootstrap --variant=minbase bookworm "$rootfs" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 ||
    { tail -20 "$WORK/debootstrap.log" >&2; fail "debootstrap failed"; }
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" --numeric-owner -cf "$BASE_TAR.partial" .
  mv "$BASE_TAR.partial" "$BASE_TAR"
  rm -rf "$rootfs"
  phase "base rootfs built with debootstrap and cached in $BASE_TAR"
}

# What the official denoland/deno:debian image adds to Debian: deno at /usr/bin/deno, a
# deno user (uid 1993) and a DENO_DIR it owns. When this machine reaches npm through a
# TLS-intercepting proxy (NODE_EXTRA_CA_CERTS set), its CA file goes in too, so that the
# build's `deno install` trusts the same certificates the host does.
build_standin() {
  local rootfs=$WORK/standin
  local changes=(--change "ENV DENO_DIR=/deno-dir/")
  mkdir "$rootfs"
  tar -C "$rootfs" --numeric-owner -xf "$BASE_TAR"
  chroot "$rootfs" useradd --uid 1993 --user-group deno
  install -d -o 1993 -g 1993 "$rootfs/deno-dir"
  install -m 0755 "$(readlink -f "$(command -v deno)")" "$rootfs/usr/bin/deno"
  if [ -n "${NODE_EXTRA_CA_CERTS:-}" ]; then
    install -D -m 0644 "$NODE_EXTRA_CA_CERTS" "$rootfs/etc/ssl/certs/build-host-ca.crt"
    changes+=(--change "ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/build-host-ca.crt")
  fi
  tar -C "$rootfs" --numeric-owner -c . |
    podman import "${changes[@]}" - "$BASE_IMAGE" >"$WORK/import.log" 2>&1 ||
    { tail -5 "$WORK/import.log" >&2; fail "podman import of the stand-in failed"; }
  rm -rf "$rootfs"
  phase "stand-in base image $BASE_IMAGE"
}

# `--network host` with chroot isolation: the build's `deno install --frozen` reaches the
# npm registry the way the host does, without a bridge.
build_image() {
  buildah bud --isolation chroot --network host --format docker \
    --build-arg "DENO_IMAGE=$BASE_IMAGE" -t "$IMAGE" -f "$ROOT/Dockerfile" "$ROOT" \
    >"$WORK/build.log" 2>&1 || { tail -30 "$WORK/build.log" >&2; fail "image build failed"; }
  phase "image $IMAGE built from the unchanged Dockerfile"
}

free_port() {
  deno eval --no-config \
    'const l = Deno.listen({ hostname: "127.0.0.1", port: 0 }); console.log(l.addr.port); l.close();'
}

# slirp4netns port forwarding makes host clients appear as 10.0.2.100, inside its
# 10.0.2.0/24 network, so that network is the payloader list of the test config.
write_config() {
  mkdir -p "$WORK/etc" "$WORK/data"
  cat >"$WORK/etc/pubsub.yaml" <<EOF
server:
  bind: 0.0.0.0
  port: 2069
clients:
  payloaders:
    - 10.0.2.0/24
EOF
  : >"$WORK/etc/pubsub_acl.yaml"
  chown 1993:1993 "$WORK/data"
}

# Another process may take the free port before podman binds it; then try another one.
start_container() {
  local attempt
  CONTAINERS+=("$1")
  for attempt in 1 2 3; do
    PORT=$(free_port)
    URL=http://127.0.0.1:$PORT
    if podman run -d --name "$1" --network slirp4netns -p "127.0.0.1:$PORT:2069" \
      -v "$WORK/etc:/etc/denopubsub:ro" -v "$WORK/data:/var/lib/denopubsub" \
      "$IMAGE" >/dev/null 2>"$WORK/run.err"; then
      cat "$WORK/run.err" >>"$WORK/podman.log"
      break
    fi
    cat "$WORK/run.err" >>"$WORK/podman.log"
    podman rm -f "$1" >/dev/null 2>&1 || true
    grep -q 'address already in use' "$WORK/run.err" ||
      fail "podman run failed: $(grep -v 'systemd connection' "$WORK/run.err" | tail -1)"
    [ "$attempt" -lt 3 ] || fail "podman run failed: the loopback port was taken 3 times"
  done
  local i
  for i in $(seq 1 100); do
    if [ "$(head_status)" = 204 ]; then return; fi
    [ "$(podman inspect --format '{{.State.Running}}' "$1")" = true ] ||
      { podman logs "$1" >&2; fail "container $1 exited during start-up"; }
    sleep 0.2
  done
  podman logs "$1" >&2
  fail "container $1 did not answer HEAD / within 20 s"
}

head_status() {
  curl -s -o /dev/null -w '%{http_code}' -I --max-time 2 "$URL/" || true
}

subscribers() {
  curl -s -I --max-time 2 "$URL/" | tr -d '\r' | sed -n 's/^[Xx]-[Ss]ubscribers: //p'
}

wait_for_line() {
  local file=$1 pattern=$2 i
  for i in $(seq 1 50); do
    if grep -q -- "$pattern" "$file"; then return 0; fi
    sleep 0.2
  done
  return 1
}

check_identity_and_health() {
  local name=$1 server uid limit
  server=$(curl -s -I --max-time 2 "$URL/" | tr -d '\r' | sed -n 's/^[Ss]erver: //p')
  case $server in DenoPubSub/*) ;; *) fail "HEAD / has Server '$server', not DenoPubSub/…" ;; esac
  uid=$(podman exec "$name" sed -n 's/^Uid:[[:space:]]*\([0-9]*\).*/\1/p' /proc/1/status)
  [ "$uid" = 1993 ] || fail "the server runs as uid '$uid', not the deno user (1993)"
  podman healthcheck run "$name" >/dev/null 2>>"$WORK/podman.log" ||
    fail "the image's HEALTHCHECK reports unhealthy"
  [ "$(podman inspect --format '{{.State.Health.Status}}' "$name")" = healthy ] ||
    fail "health status is not 'healthy' after podman healthcheck run"
  limit=$(podman logs "$name" 2>&1 | grep -o 'open_files=[0-9]* streams_allowed=[0-9]*' | head -1)
  [ -n "$limit" ] || fail "the server did not read its open-file limit (--allow-run=cat)"
  phase "HEAD / -> 204, Server $server, uid 1993, HEALTHCHECK healthy, $limit"
}

# A live stream receives a PUT; the stream must end when the server stops.
check_publish_subscribe() {
  curl -sN --max-time 60 "$URL/check/container" >"$WORK/stream.out" 2>&1 </dev/null &
  STREAM_PID=$!
  local i
  for i in $(seq 1 50); do
    if [ "$(subscribers)" = 1 ]; then break; fi
    sleep 0.1
  done
  [ "$(subscribers)" = 1 ] || fail "the subscription did not register (X-Subscribers)"
  local status
  status=$(curl -s -o /dev/null -w '%{http_code}' -X PUT --data '{"marker":"through-podman"}' \
    "$URL/check/container")
  [ "$status" = 202 ] || fail "PUT answered $status, not 202"
  wait_for_line "$WORK/stream.out" '"marker":"through-podman"' ||
    fail "the published event did not reach the subscriber: $(cat "$WORK/stream.out")"
  grep -q '"pubsub_cursor"' "$WORK/stream.out" || fail "the event lacks pubsub_cursor"
  phase "PUT -> 202, event delivered on the live stream"
}

# SIGTERM must end the server itself (deno is PID 1, no init), well before the kill timeout.
stop_container() {
  local name=$1 began=$SECONDS code
  podman stop -t "$STOP_TIMEOUT" "$name" >/dev/null 2>>"$WORK/podman.log"
  code=$(podman inspect --format '{{.State.ExitCode}}' "$name")
  [ $((SECONDS - began)) -lt "$STOP_TIMEOUT" ] ||
    fail "podman stop needed the ${STOP_TIMEOUT} s timeout (SIGTERM ignored)"
  [ "$code" = 0 ] || { podman logs "$name" >&2; fail "the server exited $code on SIGTERM, not 0"; }
  phase "SIGTERM: container $name exited 0 in $((SECONDS - began)) s"
}

check_stream_ended() {
  local i
  for i in $(seq 1 25); do
    kill -0 "$STREAM_PID" 2>/dev/null || break
    sleep 0.2
  done
  if kill -0 "$STREAM_PID" 2>/dev/null; then fail "the stream stayed open after SIGTERM"; fi
  wait "$STREAM_PID" || true
  STREAM_PID=
}

# The history volume must be writable by the server's user, even when it is a bind mount.
check_volume_writable() {
  podman exec "$1" sh -c 'test -w /var/lib/denopubsub && test -O /var/lib/denopubsub' ||
    fail "/var/lib/denopubsub is not owned and writable by the deno user"
  phase "volume /var/lib/denopubsub owned and writable by the deno user"
}

cleanup() {
  local rc=$?
  set +e
  if [ -n "${STREAM_PID:-}" ]; then kill "$STREAM_PID" 2>/dev/null; wait "$STREAM_PID"; fi
  if [ -n "${WORK:-}" ] && [ -f "$WORK/containers.conf" ]; then
    local name
    for name in "${CONTAINERS[@]}"; do podman rm -f "$name" >/dev/null 2>&1; done
    podman rmi -f "$IMAGE" "$BASE_IMAGE" >/dev/null 2>&1
    buildah rm --all >/dev/null 2>&1
  fi
  if [ "$rc" != 0 ] && [ -f "${WORK:-}/podman.log" ]; then
    grep -v 'systemd connection' "$WORK/podman.log" | tail -20 >&2
  fi
  [ -n "${WORK:-}" ] && rm -rf "$WORK"
  exit "$rc"
}

main() {
  require_tools
  check_pinned_version
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/denopubsub-container.XXXXXX")
  CONTAINERS=()
  STREAM_PID=
  NAME=denopubsub-check-$$
  BASE_IMAGE=localhost/denopubsub-check-base:deno-$DENO_VERSION
  IMAGE=localhost/denopubsub-check:$$
  trap cleanup EXIT
  configure_podman
  ensure_base_rootfs
  build_standin
  build_image
  write_config
  start_container "$NAME"
  phase "container $NAME listening on 127.0.0.1:$PORT"
  check_identity_and_health "$NAME"
  check_volume_writable "$NAME"
  check_publish_subscribe
  stop_container "$NAME"
  check_stream_ended
  echo "container check passed in $((SECONDS - START)) s"
}

main "$@"
