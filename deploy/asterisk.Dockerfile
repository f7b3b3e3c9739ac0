# Asterisk 22 from Debian unstable: the same packages as the bare-metal root
# filesystem (asterisk/build-rootfs.sh). Build context: deploy/.
# Pin a dated tag (debian:sid-YYYYMMDD) or a digest for reproducible builds.
FROM debian:sid
ARG DEBIAN_FRONTEND=noninteractive
# unstable's Release file can be past its date (as in build-rootfs.sh)
RUN apt-get -q -o Acquire::Check-Valid-Until=false update \
 && apt-get -q -y -o Acquire::Check-Valid-Until=false install --no-install-recommends \
      asterisk asterisk-core-sounds-en asterisk-core-sounds-es asterisk-moh-opsound-wav \
 && apt-get clean && rm -rf /var/lib/apt/lists/*
COPY wait-for /usr/local/bin/wait-for
# Runs as root, like the chroot. Every writable folder (etc, lib, spool, run,
# log) is /srv/aitcomms/<instance>, a volume the control image renders into.
ENTRYPOINT ["wait-for", "/srv/aitcomms/prod/etc/asterisk.conf", "--"]
CMD ["asterisk", "-f", "-n", "-C", "/srv/aitcomms/prod/etc/asterisk.conf"]
