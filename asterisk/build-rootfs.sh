#!/usr/bin/env bash
# Builds the Debian unstable root filesystem that carries Asterisk 22 on a
# Debian 12 host (Asterisk is not packaged for bookworm). Idempotent: a rootfs
# that already has /usr/sbin/asterisk is left alone.
set -euo pipefail
ROOTFS=${1:?usage: build-rootfs.sh DIR}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

if [ -x "$ROOTFS/usr/sbin/asterisk" ] && [ -f "$ROOTFS/.aitcomms-ready" ]; then
  exit 0
fi
echo "building the Asterisk root filesystem in $ROOTFS (a few minutes, once)"
tmp="$ROOTFS.partial"
rm -rf "$tmp"
mkdir -p "$(dirname "$ROOTFS")"
debootstrap --variant=minbase sid "$tmp" "$MIRROR" >"$tmp.log" 2>&1 || {
  echo "debootstrap failed, see $tmp.log" >&2; exit 1; }
cp /etc/hosts "$tmp/etc/hosts"
# the host's resolver while apt runs; emptied afterwards (see below)
cp /etc/resolv.conf "$tmp/etc/resolv.conf"
# unstable's Release file can be past its date
chroot "$tmp" apt-get -q -o Acquire::Check-Valid-Until=false update >>"$tmp.log" 2>&1
DEBIAN_FRONTEND=noninteractive chroot "$tmp" apt-get -q -y -o Acquire::Check-Valid-Until=false \
  install --no-install-recommends asterisk asterisk-core-sounds-en asterisk-core-sounds-es \
  asterisk-moh-opsound-wav >>"$tmp.log" 2>&1 || {
  echo "apt-get install asterisk failed, see $tmp.log" >&2; exit 1; }
chroot "$tmp" apt-get clean
# An empty resolv.conf: otherwise Asterisk spends 12 s at start resolving its
# own name through the network.
: >"$tmp/etc/resolv.conf"
# Asterisk runs as root inside the chroot: the packaged owner maps to another
# user on the host.
chown -R root:root "$tmp/etc/asterisk" "$tmp/var/lib/asterisk" "$tmp/var/spool/asterisk" "$tmp/var/log/asterisk" "$tmp/usr/share/asterisk" 2>/dev/null || true
touch "$tmp/.aitcomms-ready"
rm -rf "$ROOTFS"
mv "$tmp" "$ROOTFS"
rm -f "$tmp.log"
echo "Asterisk root filesystem ready: $(chroot "$ROOTFS" /usr/sbin/asterisk -V)"
