# Source me: the spike's two media nodes. Both render from ONE database (node 1's
# SQLite file), as production nodes would share PostgreSQL; each its own var
# folder, secrets, Asterisk folder in the shared rootfs, SIP/AMI/ARI/RTP ports.
# Kamailio (the edge) runs once, from node 1's var folder, at node 1's ports.
SPIKE=${SPIKE:-/tmp/aitcomms-scale-spike}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PY=$ROOT/.venv/bin/python
node_env() {  # node_env 1|2 -> prints env assignments
  local n=$1 off=$(( $1 == 1 ? 5000 : 5500 ))
  echo AITCOMMS_VAR=$SPIKE/n$n AITCOMMS_INSTANCE=scale-n$n \
    DATABASE_URL=sqlite:///$SPIKE/n1/aitcomms.db \
    AITCOMMS_PORT_SIP=30060 AITCOMMS_PORT_SIPS=30061 AITCOMMS_PORT_WS=33080 \
    AITCOMMS_PORT_WSS=33443 AITCOMMS_PORT_KAMAILIO_CTL=27049 AITCOMMS_PORT_RTPENGINE_NG=27223 \
    AITCOMMS_PORT_RTPENGINE_MIN=60500 AITCOMMS_PORT_RTPENGINE_MAX=60999 \
    AITCOMMS_PORT_ASTERISK_SIP=$((25080+off)) AITCOMMS_PORT_AMI=$((25038+off)) \
    AITCOMMS_PORT_ARI=$((28088+off)) AITCOMMS_PORT_HTTP=$((28000+off)) \
    AITCOMMS_PORT_FASTAGI=$((24573+off)) AITCOMMS_PORT_AUDIOSOCKET=$((24574+off)) \
    AITCOMMS_PORT_ASTERISK_RTP_MIN=$((50000+2*off)) AITCOMMS_PORT_ASTERISK_RTP_MAX=$((50499+2*off))
}
aitcomms_n() { local n=$1; shift; env $(node_env $n) "$PY" -m control "$@"; }
