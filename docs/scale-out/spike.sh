#!/usr/bin/env bash
# The issue-11 spike's set-up and tear-down (docs/scale-out.md). As root, after `make setup`.
#   bash docs/scale-out/spike.sh render   # two nodes' configs from one database, + test data
#   .venv/bin/python docs/scale-out/measure.py spread|drain|failover|agent|ids
#   bash docs/scale-out/spike.sh down     # stop whatever the spike left running
#   bash docs/scale-out/spike.sh clean    # down, then remove its folders
set -euo pipefail
source "$(dirname "$0")/env.sh"
RFS=${AITCOMMS_ROOTFS:-/var/lib/aitcomms/asterisk-rootfs}

case "${1:-}" in
render)
  mkdir -p "$SPIKE"
  aitcomms_n 1 render >/dev/null
  # test data, once: a trunk (SIPp on 127.0.0.40), a queue with agent 1001, a DID to it
  aitcomms_n 1 trunk list | grep -q spike || aitcomms_n 1 trunk add spike --host 127.0.0.40 --port 5060
  aitcomms_n 1 queue list | grep -q spike || aitcomms_n 1 queue add spike --max-wait 600
  aitcomms_n 1 agent list | grep -q 1001 || {
    aitcomms_n 1 agent add 1001 --name "Spike Agent" --password 'Spike-agent-1001'
    aitcomms_n 1 queue member add spike 1001; }
  aitcomms_n 1 did list | grep -q 34910005000 || aitcomms_n 1 did add +34910005000 --to queue:spike
  for n in 1 2; do
    aitcomms_n $n render
    # channel ids unique across nodes: "node1-1796598162.0" (the build: a template setting)
    sed -i "s/^\[options\]$/[options]\nsystemname = node$n/" \
      "$RFS/srv/aitcomms/scale-n$n/etc/asterisk.conf"
  done
  ;;
down)
  if [ -f "$SPIKE/kam/kamailio.pid" ]; then
    kill -TERM -- "-$(cat "$SPIKE/kam/kamailio.pid")" 2>/dev/null || true
  fi
  for n in 1 2; do
    if [ -f "$SPIKE/n$n/run/asterisk.pid" ]; then kill -TERM "$(cat "$SPIKE/n$n/run/asterisk.pid")" 2>/dev/null || true; fi
  done
  sleep 2
  pgrep -af "scale-n[12]/etc/asterisk.conf|$SPIKE/kamailio-ds.cfg" || echo "nothing of the spike runs"
  ;;
clean)
  bash "$0" down
  rm -rf "$SPIKE" "$RFS/srv/aitcomms/scale-n1" "$RFS/srv/aitcomms/scale-n2"
  ;;
*)
  echo "usage: $0 render|down|clean" >&2; exit 2 ;;
esac
