# Kamailio 5.6 (Debian 12), the SIP edge. Build context: deploy/.
FROM debian:bookworm
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get -q update \
 && apt-get -q -y install --no-install-recommends \
      kamailio kamailio-websocket-modules kamailio-tls-modules \
      kamailio-postgres-modules kamailio-sqlite-modules \
 && apt-get clean && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /run/kamailio
COPY wait-for /usr/local/bin/wait-for
# The config is rendered by the control image into AITCOMMS_VAR/kamailio.
ENTRYPOINT ["wait-for", "/var/lib/aitcomms/kamailio/kamailio.cfg", "--"]
CMD ["kamailio", "-DD", "-E", "-f", "/var/lib/aitcomms/kamailio/kamailio.cfg", \
     "-P", "/run/kamailio/kamailio.pid", "-Y", "/run/kamailio"]
