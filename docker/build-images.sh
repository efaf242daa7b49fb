#!/usr/bin/env bash
# Build the images docker-compose.yml runs, on a machine that reaches the package
# registries (Debian, PyPI) but no image registry:
#
#   1. a Debian bookworm base from debootstrap (--variant=minbase), docker-imported;
#   2. on it, stand-ins for the public images the compose file names
#      (python:3.11-slim, nginx, redis, memcached, postgres), from Debian's packages;
#   3. the app image (../Dockerfile) on the stand-in python base, with this
#      machine's CA bundle given to pip as a BuildKit secret: it is in no layer.
#
# Everything is cached: the base's root filesystem as a tarball in $CACHE, the
# images in Docker's own store. A second run only checks what is there.
# docker-compose picks the stand-ins through docker/stand-ins.env.
#
# AUTHDEMO_DOCKER_PUBLIC_IMAGES=1 skips 1 and 2 and builds the app image on the
# public python:3.11-slim (a machine that reaches Docker Hub).
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE=${AUTHDEMO_DOCKER_CACHE:-/var/cache/authdemo-docker}
SUITE=bookworm
MIRROR=${AUTHDEMO_DEBIAN_MIRROR:-http://deb.debian.org/debian}
CA_BUNDLE=${AUTHDEMO_PIP_CA:-/etc/ssl/certs/ca-certificates.crt}
APP_IMAGE=${AUTHDEMO_IMAGE:-authdemo:latest}

say() { printf '[docker-images %(%H:%M:%S)T] %s\n' -1 "$*"; }
seconds() { echo $(( $(date +%s%N) / 100000000 )); }  # tenths of a second
took() { local t=$(( $(seconds) - $1 )); echo "$((t / 10)).$((t % 10))"; }

# RUN --mount needs BuildKit. Docker 23+ uses it through the buildx plugin;
# Debian's docker.io 20.10 client has it built in (DOCKER_BUILDKIT=1).
if docker buildx version >/dev/null 2>&1; then
    BUILD=(docker build)
elif [ -x /usr/bin/docker ] && [ "$(/usr/bin/docker version --format '{{.Client.Version}}' 2>/dev/null | cut -d. -f1)" -lt 23 ] 2>/dev/null; then
    BUILD=(env DOCKER_BUILDKIT=1 /usr/bin/docker build)
else
    echo "docker-images: BuildKit is needed (RUN --mount): install the buildx plugin (docker-buildx)" >&2
    exit 2
fi
BUILD+=(--network host --progress plain)

# set -a: every name in stand-ins.env, with its value, for the builds below.
set -a; . docker/stand-ins.env; set +a

have_image() { docker image inspect "$1" >/dev/null 2>&1; }

if [ "${AUTHDEMO_DOCKER_PUBLIC_IMAGES:-0}" = 1 ]; then
    BASE_IMAGE=python:3.11-slim
else
    BASE_IMAGE=$AUTHDEMO_PYTHON_IMAGE
    if ! have_image "$AUTHDEMO_DEBIAN_IMAGE"; then
        tarball=$CACHE/debian-$SUITE-minbase.tar
        if [ ! -s "$tarball" ]; then
            command -v debootstrap >/dev/null || { echo "docker-images: debootstrap is missing (apt-get install debootstrap)" >&2; exit 2; }
            mkdir -p "$CACHE"
            rootfs=$(mktemp -d "$CACHE/rootfs.XXXXXX")
            trap 'rm -rf "$rootfs"' EXIT
            say "debootstrap --variant=minbase $SUITE (once; cached in $tarball)"
            start=$(seconds)
            debootstrap --variant=minbase "$SUITE" "$rootfs" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 \
                || { tail -20 "$CACHE/debootstrap.log" >&2; exit 1; }
            say "debootstrap took $(took "$start") s"
            # What Docker's own debian images do: no daemon starts during apt-get install
            # (a build on the host network would take the host's ports), no recommends,
            # no package cache left in a layer.
            printf '#!/bin/sh\nexit 101\n' >"$rootfs/usr/sbin/policy-rc.d"
            chmod 755 "$rootfs/usr/sbin/policy-rc.d"
            printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' >"$rootfs/etc/apt/apt.conf.d/90stand-in"
            printf 'DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb || true"; };\n' >"$rootfs/etc/apt/apt.conf.d/91clean"
            rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
            tar -C "$rootfs" --numeric-owner -cf "$tarball.tmp" .
            mv "$tarball.tmp" "$tarball"
            rm -rf "$rootfs"
            trap - EXIT
        fi
        say "docker import $tarball as $AUTHDEMO_DEBIAN_IMAGE"
        docker import "$tarball" "$AUTHDEMO_DEBIAN_IMAGE" >/dev/null
    fi
    for name in python nginx redis memcached postgres; do
        variable=AUTHDEMO_${name^^}_IMAGE
        say "stand-in ${!variable} (docker/stand-ins/$name)"
        start=$(seconds)
        "${BUILD[@]}" --build-arg DEBIAN_IMAGE="$AUTHDEMO_DEBIAN_IMAGE" -t "${!variable}" "docker/stand-ins/$name" \
            >"$CACHE/build-$name.log" 2>&1 || { tail -30 "$CACHE/build-$name.log" >&2; exit 1; }
        say "  took $(took "$start") s"
    done
fi

secret=()
if [ -s "$CA_BUNDLE" ]; then
    secret=(--secret "id=pip_ca,src=$CA_BUNDLE")
fi
say "app image $APP_IMAGE on $BASE_IMAGE"
start=$(seconds)
mkdir -p "$CACHE"
"${BUILD[@]}" "${secret[@]}" --build-arg BASE_IMAGE="$BASE_IMAGE" -t "$APP_IMAGE" . \
    >"$CACHE/build-app.log" 2>&1 || { tail -30 "$CACHE/build-app.log" >&2; exit 1; }
say "  took $(took "$start") s"
