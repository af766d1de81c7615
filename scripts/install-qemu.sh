#!/usr/bin/env bash
# Installs QEMU >= 8.0 with the emulated Intel 82576 (`-device igb`) if it is not there yet.
# Debian bookworm's own QEMU (7.2) has no igb, so the package comes from bookworm-backports,
# which is on the same Debian mirror apt already uses. Needs root (apt). Idempotent.
set -euo pipefail

has_igb() {
    command -v qemu-system-x86_64 >/dev/null 2>&1 &&
        qemu-system-x86_64 -device help 2>/dev/null | grep -q '"igb"'
}

if has_igb; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "install-qemu: QEMU >= 8.0 with the igb device is missing and this is not root." >&2
    echo "install-qemu: run as root, or: apt-get install -t bookworm-backports qemu-system-x86" >&2
    exit 1
fi

. /etc/os-release
if [ "${VERSION_CODENAME:-}" = "bookworm" ] &&
    ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
    # Same mirror and keyring as the machine's main Debian source.
    mirror=$(grep -rhs '^URIs:' /etc/apt/sources.list.d/debian.sources | head -n1 | awk '{print $2}')
    mirror=${mirror:-http://deb.debian.org/debian}
    cat >/etc/apt/sources.list.d/bookworm-backports.sources <<SRC
Types: deb
URIs: ${mirror}
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -q
if [ "${VERSION_CODENAME:-}" = "bookworm" ]; then
    apt-get install -y -q --no-install-recommends -t bookworm-backports qemu-system-x86
else
    apt-get install -y -q --no-install-recommends qemu-system-x86
fi

if ! has_igb; then
    echo "install-qemu: installed $(qemu-system-x86_64 --version | head -n1), but it has no igb device" >&2
    exit 1
fi
qemu-system-x86_64 --version | head -n1
