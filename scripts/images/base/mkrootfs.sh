#!/usr/bin/env bash
# Build a minimal Debian root filesystem with debootstrap and import it as a Docker image: the
# offline stand-in for the official debian:bookworm(-slim) image, from a Debian mirror alone.
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: scripts/images/base/mkrootfs.sh TAG
  Runs debootstrap (variant minbase) into a temporary directory, verifying the archive's
  signature against DEBIAN_KEYRING (an unsigned or wrongly signed Release stops the build),
  upgrades it from $DEBIAN_SUITE-updates and $DEBIAN_SUITE-security, and `docker import`s it as TAG.
Environment (defaults):
  DEBIAN_MIRROR=http://deb.debian.org/debian
  DEBIAN_SECURITY_MIRROR=http://deb.debian.org/debian-security
  DEBIAN_SUITE=bookworm
  DEBIAN_KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg   (package debian-archive-keyring)
USAGE
}
[[ "${1:-}" == "--help" || $# -ne 1 ]] && { usage; [[ "${1:-}" == "--help" ]]; exit $?; }
tag=$1
: "${DEBIAN_MIRROR:=http://deb.debian.org/debian}"
: "${DEBIAN_SECURITY_MIRROR:=http://deb.debian.org/debian-security}"
: "${DEBIAN_SUITE:=bookworm}"
default_keyring=/usr/share/keyrings/debian-archive-keyring.gpg
: "${DEBIAN_KEYRING:=$default_keyring}"
[[ $EUID -eq 0 ]] || { echo "mkrootfs: debootstrap needs root" >&2; exit 1; }
root=$(cd "$(dirname "$0")/../../.." && pwd)
command -v debootstrap >/dev/null || "$root/scripts/ci/apt.sh" debootstrap
[[ -f $DEBIAN_KEYRING || $DEBIAN_KEYRING != "$default_keyring" ]] || "$root/scripts/ci/apt.sh" debian-archive-keyring
[[ -f $DEBIAN_KEYRING ]] || { echo "mkrootfs: no keyring at $DEBIAN_KEYRING (DEBIAN_KEYRING)" >&2; exit 1; }

rootfs=$(mktemp -d /var/tmp/zufang-rootfs.XXXXXX)
trap 'rm -rf "$rootfs" "$rootfs.log"' EXIT
# The image's / (mktemp makes it 0700): apt's _apt user must traverse it, or apt downloads as root.
chmod 0755 "$rootfs"
echo "mkrootfs: debootstrap $DEBIAN_SUITE from $DEBIAN_MIRROR (signatures checked against $DEBIAN_KEYRING)" >&2
# An explicit keyring and --force-check-gpg: by default debootstrap only warns when it has no
# keyring to check the Release file with, and goes on installing unverified packages.
if ! nice debootstrap --keyring="$DEBIAN_KEYRING" --force-check-gpg --variant=minbase --components=main \
    "$DEBIAN_SUITE" "$rootfs" "$DEBIAN_MIRROR" > "$rootfs.log" 2>&1; then
  tail -n 30 "$rootfs.log" >&2
  echo "mkrootfs: debootstrap failed (a signature error above means the archive is not signed by a key of $DEBIAN_KEYRING)" >&2
  exit 1
fi

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
# The fixes published since the release, at build time: every image FROM this base starts
# patched (build.sh puts the date of these indexes into the base's tag, so a newer security
# suite means a new base). apt in the rootfs checks the indexes with the rootfs's own keyring;
# --with-new-pkgs: a fix that needs a new dependency is installed, not "kept back".
echo "mkrootfs: upgrading from $DEBIAN_SUITE-updates and $DEBIAN_SUITE-security" >&2
if ! { chroot "$rootfs" apt-get -q -o APT::Update::Error-Mode=any update \
       && chroot "$rootfs" env DEBIAN_FRONTEND=noninteractive apt-get -q -y --with-new-pkgs upgrade \
       && chroot "$rootfs" apt-get clean; } > "$rootfs.log" 2>&1; then
  tail -n 30 "$rootfs.log" >&2; echo "mkrootfs: the upgrade in the rootfs failed" >&2; exit 1
fi
grep -E '^[0-9]+ upgraded' "$rootfs.log" | sed 's/^/mkrootfs: /' >&2
find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete 2>/dev/null || true
rm -rf "$rootfs"/usr/share/{man,info,locale,lintian}/* "$rootfs"/var/lib/apt/lists/* \
  "$rootfs"/var/cache/apt/* "$rootfs"/var/log/* "$rootfs"/tmp/* 2>/dev/null || true
: > "$rootfs/etc/machine-id"

echo "mkrootfs: importing as $tag" >&2
tar --numeric-owner -C "$rootfs" -c . \
  | docker import --change 'CMD ["bash"]' --change 'ENV LANG=C.UTF-8' \
      --message "debootstrap $DEBIAN_SUITE minbase from $DEBIAN_MIRROR" - "$tag" >/dev/null
docker image inspect --format '{{.Size}}' "$tag" | awk -v t="$tag" '{printf "mkrootfs: %s is %.0f MB\n", t, $1/1e6}' >&2
