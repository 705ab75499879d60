#!/bin/sh
# Produce the local root image sicuro/debian:trixie (idempotent).
#
# 1. If the image already exists: do nothing.
# 2. Try `docker pull debian:trixie-slim` and tag it (works wherever a registry is reachable).
# 3. Otherwise build a minimal Debian trixie root file system from Debian's package mirror
#    with mmdebstrap (preferred) or debootstrap, and `docker import` it.
#
# Run as root on the Docker host. Environment knobs (all optional):
#   SICURO_ROOT_IMAGE   image to produce          (default sicuro/debian:trixie)
#   SICURO_DEBIAN_MIRROR Debian mirror             (default http://deb.debian.org/debian)
#   SICURO_DEBIAN_SECURITY_MIRROR                  (default http://deb.debian.org/debian-security)
#   SICURO_SKIP_PULL=1  do not try the registry first
#   SICURO_PULL_TIMEOUT seconds allowed for the pull attempt (default 60)
#   SICURO_BOOTSTRAP_TOOL auto | mmdebstrap | debootstrap   (default auto: mmdebstrap if present)
set -eu

IMAGE="${SICURO_ROOT_IMAGE:-sicuro/debian:trixie}"
SUITE=trixie
MIRROR="${SICURO_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
SECURITY_MIRROR="${SICURO_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}"
PULL_TIMEOUT="${SICURO_PULL_TIMEOUT:-60}"

log() { printf '[bootstrap] %s\n' "$*" >&2; }
die() { printf '[bootstrap] error: %s\n' "$*" >&2; exit 1; }

command -v docker >/dev/null 2>&1 || die "docker CLI not found (apt-get install docker.io)"
docker info >/dev/null 2>&1 || die "cannot talk to the Docker engine (is dockerd running? are you root?)"

if docker image inspect "$IMAGE" >/dev/null 2>&1; then
    log "$IMAGE already exists, nothing to do"
    exit 0
fi

# --- 1. registry --------------------------------------------------------------
if [ "${SICURO_SKIP_PULL:-0}" != 1 ]; then
    log "trying: docker pull debian:$SUITE-slim"
    if command -v timeout >/dev/null 2>&1; then pull="timeout $PULL_TIMEOUT docker pull"; else pull="docker pull"; fi
    if $pull "debian:$SUITE-slim" >/dev/null 2>&1; then
        docker tag "debian:$SUITE-slim" "$IMAGE"
        log "tagged debian:$SUITE-slim as $IMAGE"
        exit 0
    fi
    log "pull failed (no registry reachable); bootstrapping from $MIRROR instead"
fi

# --- 2. local bootstrap -------------------------------------------------------
# The resulting image mirrors what debian:trixie-slim is like: no recommends, no man pages or
# docs, and dpkg's force-unsafe-io (no fsync per file: image builds install packages ~2x faster;
# a container that crashes mid-install is thrown away anyway).

tool="${SICURO_BOOTSTRAP_TOOL:-auto}"
if [ "$tool" = auto ]; then
    if command -v mmdebstrap >/dev/null 2>&1; then tool=mmdebstrap
    elif command -v debootstrap >/dev/null 2>&1; then tool=debootstrap
    else tool=none; fi
elif ! command -v "$tool" >/dev/null 2>&1; then
    tool=none
fi

start=$(date +%s)
if [ "$tool" = mmdebstrap ]; then
    # POSIX sh has no pipefail: write the tarball to a temporary file so that a failed
    # mmdebstrap can never be imported as a half-written image.
    tmpdir=$(mktemp -d /tmp/sicuro-bootstrap.XXXXXX)
    trap 'rm -rf "$tmpdir"' EXIT INT TERM
    log "running mmdebstrap --variant=minbase $SUITE"
    mmdebstrap --variant=minbase --mode=root --format=tar \
        --aptopt='APT::Install-Recommends "false"' \
        --aptopt='APT::Install-Suggests "false"' \
        --dpkgopt='force-unsafe-io' \
        --dpkgopt='path-exclude=/usr/share/man/*' \
        --dpkgopt='path-exclude=/usr/share/doc/*' \
        --dpkgopt='path-include=/usr/share/doc/*/copyright' \
        --dpkgopt='path-exclude=/usr/share/info/*' \
        --dpkgopt='path-exclude=/usr/share/locale/*' \
        --dpkgopt='path-include=/usr/share/locale/locale.alias' \
        --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin "$1"/var/log/*.log "$1"/tmp/*' \
        "$SUITE" "$tmpdir/rootfs.tar" \
        "deb $MIRROR $SUITE main" \
        "deb $MIRROR $SUITE-updates main" \
        "deb $SECURITY_MIRROR $SUITE-security main" >&2
    log "importing the root file system as $IMAGE"
    docker import --change 'ENV LANG=C.UTF-8' --change 'CMD ["bash"]' "$tmpdir/rootfs.tar" "$IMAGE" >/dev/null
elif [ "$tool" = debootstrap ]; then
    log "running debootstrap --variant=minbase $SUITE"
    rootfs=$(mktemp -d /tmp/sicuro-rootfs.XXXXXX)
    trap 'rm -rf "$rootfs" "$rootfs.tar"' EXIT INT TERM
    log "(debootstrap is slower than mmdebstrap: about a minute with a fast mirror)"
    debootstrap --variant=minbase "$SUITE" "$rootfs" "$MIRROR" >&2
    cat > "$rootfs/etc/apt/sources.list" <<SOURCES
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb $SECURITY_MIRROR $SUITE-security main
SOURCES
    printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' \
        > "$rootfs/etc/apt/apt.conf.d/99sicuro-norecommends"
    printf '%s\n' 'force-unsafe-io' 'path-exclude=/usr/share/man/*' 'path-exclude=/usr/share/doc/*' \
        'path-include=/usr/share/doc/*/copyright' 'path-exclude=/usr/share/info/*' \
        > "$rootfs/etc/dpkg/dpkg.cfg.d/99sicuro-nodoc"
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/archives/*.deb \
           "$rootfs"/var/cache/apt/*.bin "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/*
    log "importing the root file system as $IMAGE"
    tar -C "$rootfs" --numeric-owner -cf "$rootfs.tar" .
    docker import --change 'ENV LANG=C.UTF-8' --change 'CMD ["bash"]' "$rootfs.tar" "$IMAGE" >/dev/null
else
    die "neither mmdebstrap nor debootstrap is installed and no registry is reachable; install one: apt-get install -y mmdebstrap   (or: apt-get install -y debootstrap)"
fi

docker image inspect "$IMAGE" >/dev/null 2>&1 || die "docker import did not produce $IMAGE"
log "created $IMAGE in $(( $(date +%s) - start ))s"
