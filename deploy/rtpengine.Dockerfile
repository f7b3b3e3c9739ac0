# rtpengine 10.5 (Debian 12), userspace only (--table=-1): browsers'
# DTLS-SRTP/ICE <-> plain RTP for Asterisk. Flags are in docker-compose.yml.
# Build context: deploy/.
FROM debian:bookworm
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get -q update \
 && apt-get -q -y install --no-install-recommends rtpengine-daemon \
 && apt-get clean && rm -rf /var/lib/apt/lists/*
ENTRYPOINT ["rtpengine", "--foreground", "--log-stderr", "--config-file=none", "--table=-1"]
