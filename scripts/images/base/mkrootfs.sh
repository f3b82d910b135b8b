#!/usr/bin/env bash
# Build a minimal Debian root filesystem with debootstrap and import it as a Docker image: the
# offline stand-in for the official debian:bookworm(-slim) image, from a Debian mirror alone.
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: scripts/images/base/mkrootfs.sh TAG
  Runs debootstrap (variant minbase) into a temporary directory and `docker import`s it as TAG.
Environment (defaults):
  DEBIAN_MIRROR=http://deb.debian.org/debian
  DEBIAN_SECURITY_MIRROR=http://deb.debian.org/debian-security
  DEBIAN_SUITE=bookworm
USAGE
}
[[ "${1:-}" == "--help" || $# -ne 1 ]] && { usage; [[ "${1:-}" == "--help" ]]; exit $?; }
tag=$1
: "${DEBIAN_MIRROR:=http://deb.debian.org/debian}"
: "${DEBIAN_SECURITY_MIRROR:=http://deb.debian.org/debian-security}"
: "${DEBIAN_SUITE:=bookworm}"
[[ $EUID -eq 0 ]] || { echo "mkrootfs: debootstrap needs root" >&2; exit 1; }
root=$(cd "$(dirname "$0")/../../.." && pwd)
command -v debootstrap >/dev/null || "$root/scripts/ci/apt.sh" debootstrap

rootfs=$(mktemp -d /var/tmp/zufang-rootfs.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT
echo "mkrootfs: debootstrap $DEBIAN_SUITE from $DEBIAN_MIRROR" >&2
nice debootstrap --variant=minbase --components=main "$DEBIAN_SUITE" "$rootfs" "$DEBIAN_MIRROR" \
  > "$rootfs.log" 2>&1 || { tail -n 30 "$rootfs.log" >&2; exit 1; }
rm -f "$rootfs.log"

# The same apt sources the official image has, pointing at the configured mirrors.
rm -f "$rootfs/etc/apt/sources.list"
cat > "$rootfs/etc/apt/sources.list.d/debian.sources" <<SRC
Types: deb
URIs: $DEBIAN_MIRROR
Suites: $DEBIAN_SUITE $DEBIAN_SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $DEBIAN_SECURITY_MIRROR
Suites: $DEBIAN_SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
# Like debian:*-slim: no recommends, no docs/man pages/locales in later installs, no apt caches.
cat > "$rootfs/etc/apt/apt.conf.d/90zufang" <<'APT'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Languages "none";
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/*.bin || true"; };
APT
cat > "$rootfs/etc/dpkg/dpkg.cfg.d/90zufang-slim" <<'DPKG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
DPKG
find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete 2>/dev/null || true
rm -rf "$rootfs"/usr/share/{man,info,locale,lintian}/* "$rootfs"/var/lib/apt/lists/* \
  "$rootfs"/var/cache/apt/* "$rootfs"/var/log/* "$rootfs"/tmp/* 2>/dev/null || true
: > "$rootfs/etc/machine-id"

echo "mkrootfs: importing as $tag" >&2
tar --numeric-owner -C "$rootfs" -c . \
  | docker import --change 'CMD ["bash"]' --change 'ENV LANG=C.UTF-8' \
      --message "debootstrap $DEBIAN_SUITE minbase from $DEBIAN_MIRROR" - "$tag" >/dev/null
docker image inspect --format '{{.Size}}' "$tag" | awk -v t="$tag" '{printf "mkrootfs: %s is %.0f MB\n", t, $1/1e6}' >&2
