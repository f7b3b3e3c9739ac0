"""Spike measurements for issue 11: two Asterisk media nodes behind Kamailio's
dispatcher, real SIP from SIPp on 127.0.0.40 (a trunk). See docs/scale-out.md.

Needs: `make setup`, then `bash docs/scale-out/spike.sh render` (two nodes'
configs from one database). Everything runs at port offset 5000/5500 and is
stopped at the end of each command (`spike.sh down` as a safety net).

    .venv/bin/python docs/scale-out/measure.py spread        # alg 4 / 9 / 10, call-load check
    .venv/bin/python docs/scale-out/measure.py drain         # set_state i vs ip vs d
    .venv/bin/python docs/scale-out/measure.py failover --ping-interval 5
    .venv/bin/python docs/scale-out/measure.py failover --ping-interval 1 \
        --ping-timeout-ms 1000 --invite-timeout-ms 1000 --mark-on-failure
"""

from __future__ import annotations

import argparse
import csv
import glob
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SPIKE = Path(os.environ.get("SPIKE", "/tmp/aitcomms-scale-spike"))
RFS = Path(os.environ.get("AITCOMMS_ROOTFS", "/var/lib/aitcomms/asterisk-rootfs"))
NODES = {1: 30080, 2: 30580}  # PJSIP port of each node
KAM_SIP, KAM_CTL = 30060, 27049
TRUNK_IP = "127.0.0.40"
DID = "+34910005000"  # -> queue:spike; no control plane: the app_queue fallback holds the call


def uri(n: int) -> str:
    return f"sip:127.0.0.1:{NODES[n]}"


# -- processes ---------------------------------------------------------------------------------

def node_pid(n: int) -> int | None:
    try:
        pid = int((SPIKE / f"n{n}/run/asterisk.pid").read_text())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


def udp_bound(port: int) -> bool:
    return any(line.split()[1].endswith(f":{port:04X}")
               for line in Path("/proc/net/udp").read_text().splitlines()[1:])


def start_node(n: int, wait: bool = True) -> float:
    """Start node n's Asterisk; returns when its PJSIP port is bound (seconds taken)."""
    if node_pid(n):
        return 0.0
    (SPIKE / f"n{n}/run").mkdir(parents=True, exist_ok=True)
    log = open(SPIKE / f"n{n}/log/asterisk.log", "ab")
    began = time.monotonic()
    proc = subprocess.Popen(["chroot", str(RFS), "/usr/sbin/asterisk", "-f", "-n", "-C",
                             f"/srv/aitcomms/scale-n{n}/etc/asterisk.conf"],
                            stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                            start_new_session=True)
    (SPIKE / f"n{n}/run/asterisk.pid").write_text(f"{proc.pid}\n")
    while wait and not udp_bound(NODES[n]):
        if time.monotonic() - began > 60:
            raise SystemExit(f"node {n} did not bind its SIP port")
        time.sleep(0.05)
    return time.monotonic() - began


def stop_node(n: int, sig: int = signal.SIGTERM) -> None:
    pid = node_pid(n)
    if pid:
        os.kill(pid, sig)
        for _ in range(100):
            if node_pid(n) is None:
                break
            try:  # reap it if it is our child
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
            time.sleep(0.1)


def ast(n: int, command: str) -> str:
    return subprocess.run(["chroot", str(RFS), "/usr/sbin/asterisk", "-C",
                           f"/srv/aitcomms/scale-n{n}/etc/asterisk.conf", "-rx", command],
                          capture_output=True, text=True, timeout=10).stdout


def calls_processed(n: int) -> int:
    m = re.search(r"(\d+) calls? processed", ast(n, "core show calls"))
    return int(m.group(1)) if m else -1


def kam_pid() -> int | None:
    try:
        pid = int((SPIKE / "kam/kamailio.pid").read_text())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


def start_kamailio(cfg_args: list[str]) -> None:
    stop_kamailio()
    (SPIKE / "kam").mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, str(HERE / "dispatcher_cfg.py"),
                    str(SPIKE / "n1/kamailio/kamailio.cfg"), str(SPIKE / "kamailio-ds.cfg"),
                    str(SPIKE / "dispatcher.list"), "--node", uri(1), "--node", uri(2),
                    *cfg_args], check=True)
    log = open(SPIKE / "kam/kamailio.log", "wb")  # a new log per configuration
    subprocess.Popen(["kamailio", "-DD", "-E", "-f", str(SPIKE / "kamailio-ds.cfg"),
                      "-P", str(SPIKE / "kam/kamailio.pid"), "-Y", str(SPIKE / "kam")],
                     stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if kam_pid() and ds_flags().get(uri(1)):
            return
        time.sleep(0.1)
    raise SystemExit("kamailio did not come up: see " + str(SPIKE / "kam/kamailio.log"))


def stop_kamailio() -> None:
    pid = kam_pid()
    if pid:
        os.killpg(pid, signal.SIGTERM)  # Kamailio's main leads its own group
        for _ in range(50):
            if kam_pid() is None:
                break
            time.sleep(0.1)
    (SPIKE / "kam/kamailio.pid").unlink(missing_ok=True)


def kamcmd(*args: str) -> str:
    return subprocess.run(["kamcmd", "-s", f"tcp:127.0.0.1:{KAM_CTL}", *args],
                          capture_output=True, text=True, timeout=10).stdout


def ds_flags() -> dict[str, str]:
    out = kamcmd("dispatcher.list")
    return dict(re.findall(r"URI: (\S+)\s+FLAGS: (\S+)", out))


def ds_load() -> dict[str, int]:
    out = kamcmd("dispatcher.list")
    return {u: int(load) for u, load in
            re.findall(r"URI: (\S+).*?DLGLOAD: (\d+)", out, flags=re.S)}


def wait_flags(n: int, want: str, timeout: float) -> float | None:
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        if ds_flags().get(uri(n), "").startswith(want):
            return time.monotonic() - began
        time.sleep(0.05)
    return None


# -- SIPp ----------------------------------------------------------------------------------------

class Sipp:
    def __init__(self, calls: int, rate: float, hold_ms: int, local_port: int = 5060) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="spike-sipp-", dir=SPIKE))
        shutil.copy(HERE / "caller.xml", self.dir / "caller.xml")
        argv = ["sipp", f"127.0.0.1:{KAM_SIP}", "-sf", "caller.xml", "-i", TRUNK_IP,
                "-mi", TRUNK_IP, "-mp", str(46000 + 100 * (local_port - 5060)),
                "-p", str(local_port), "-s", DID,
                "-m", str(calls), "-r", str(rate), "-rp", "1000", "-l", "30",
                "-d", str(hold_ms), "-nostdin", "-timeout", "120s", "-recv_timeout", "20000",
                "-max_retrans", "5", "-trace_stat", "-stf", "stat.csv", "-fd", "1",
                "-trace_rtt", "-rtt_freq", "1", "-trace_err"]
        self.started = time.time()
        self.proc = subprocess.Popen(argv, cwd=self.dir, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.STDOUT)

    def wait(self) -> dict[str, object]:
        self.proc.wait(timeout=180)
        rows = list(csv.reader(open(self.dir / "stat.csv"), delimiter=";"))
        head, last = rows[0], rows[-1]
        col = {name: i for i, name in enumerate(head)}
        rtts = []
        for f in glob.glob(str(self.dir / "*_rtt.csv")):
            for row in list(csv.reader(open(f), delimiter=";"))[1:]:
                # ms since SIPp started (when the 200 came); setup time in ms; rtd number
                rtts.append((self.started + (float(row[0]) - float(row[1])) / 1000,
                             float(row[1])))
        return {"ok": int(last[col["SuccessfulCall(C)"]]),
                "failed": int(last[col["FailedCall(C)"]]),
                "setup": sorted(rtts), "dir": str(self.dir)}


def routed_calls() -> dict[str, list[str]]:
    """Call-ID -> nodes tried, in order, from the spike config's xlog lines."""
    tried: dict[str, list[str]] = {}
    for line in (SPIKE / "kam/kamailio.log").read_text(errors="replace").splitlines():
        m = re.search(r"call (\S+) -> (\S+) \(alg", line) or re.search(
            r"call (\S+) retried on (\S+)", line)
        if m:
            tried.setdefault(m.group(1), []).append(m.group(2))
    return tried


# -- experiments -----------------------------------------------------------------------------

def per_node(before: dict[int, int]) -> dict[int, int]:
    return {n: calls_processed(n) - before[n] for n in NODES}


def spread(args: argparse.Namespace) -> None:
    for n in NODES:
        start_node(n)
    for alg, extra in ((4, []), (9, ["--weights", "70,30"]), (10, [])):
        start_kamailio(["--alg", str(alg), *extra])
        before = {n: calls_processed(n) for n in NODES}
        r = Sipp(calls=20, rate=4, hold_ms=3000).wait()
        print(f"alg {alg:2} {' '.join(extra):14}: 20 calls -> ok {r['ok']} failed "
              f"{r['failed']}; per node {per_node(before)}")
        # load awareness: node 2 out while 4 long calls land on node 1, then back
        kamcmd("dispatcher.set_state", "i", "1", uri(2))
        before = {n: calls_processed(n) for n in NODES}
        long = Sipp(calls=4, rate=10, hold_ms=15000, local_port=5062)
        time.sleep(2.5)
        first = per_node(before)
        kamcmd("dispatcher.set_state", "ap", "1", uri(2))
        before = {n: calls_processed(n) for n in NODES}
        r = Sipp(calls=4, rate=4, hold_ms=2000).wait()
        print(f"       node 1 holding {first[1]} long calls ({first[2]} on node 2), "
              f"loads {ds_load()}, then 4 short calls -> {per_node(before)} (ok {r['ok']})")
        long.proc.terminate()
        long.proc.wait()
    stop_kamailio()


def drain(args: argparse.Namespace) -> None:
    for n in NODES:
        start_node(n)
    start_kamailio(["--alg", "10", "--ping-interval", "1"])
    for state in ("i", "ip", "d"):
        kamcmd("dispatcher.set_state", "ap", "1", uri(2))
        wait_flags(2, "A", 5)
        before = {n: calls_processed(n) for n in NODES}
        held = Sipp(calls=6, rate=10, hold_ms=8000, local_port=5062)
        time.sleep(2)
        landed = per_node(before)
        out = kamcmd("dispatcher.set_state", state, "1", uri(2))
        flags_now = ds_flags()[uri(2)]
        before = {n: calls_processed(n) for n in NODES}
        r = Sipp(calls=8, rate=4, hold_ms=1000).wait()
        after = per_node(before)
        h = held.wait()
        print(f"set_state {state:2}: flags {flags_now} -> after 3 s {ds_flags()[uri(2)]}; "
              f"held calls {landed} ok {h['ok']}/6; new calls per node {after} ok {r['ok']}/8"
              + (f" ({out.strip()})" if out.strip() else ""))
    stop_kamailio()


def failover(args: argparse.Namespace) -> None:
    cfg = ["--alg", str(args.alg), "--ping-interval", str(args.ping_interval),
           "--probing-threshold", str(args.probing_threshold),
           "--ping-timeout-ms", str(args.ping_timeout_ms),
           "--invite-timeout-ms", str(args.invite_timeout_ms)]
    if args.mark_on_failure:
        cfg.append("--mark-on-failure")
    for n in NODES:
        start_node(n)
    start_kamailio(cfg)
    print("config:", " ".join(cfg))
    # 2 calls/s of 4 s (about 8 up at a time), 30 s; node 2 killed at 8 s
    sipp = Sipp(calls=60, rate=2, hold_ms=4000)
    time.sleep(8)
    up_on_2 = ds_load().get(uri(2))
    kill_at = time.time()
    stop_node(2, signal.SIGKILL)
    detected = None
    while time.time() - kill_at < 40:
        # T (trying) is still selected: down means I (inactive) or D
        if ds_flags().get(uri(2), "")[:1] in ("I", "D"):
            detected = time.time() - kill_at
            break
        time.sleep(0.05)
    print(f"kill -9 node 2 (its call load then {up_on_2}); marked "
          f"{ds_flags().get(uri(2))} after "
          f"{detected if detected is None else round(detected, 2)} s")
    r = sipp.wait()
    tried = routed_calls()
    retried = {ci: t for ci, t in tried.items() if len(t) > 1}
    window = [s for s in r["setup"] if kill_at <= s[0] <= kill_at + (detected or 0)]
    after = [s for s in r["setup"] if s[0] > kill_at + (detected or 0)]
    print(f"calls ok {r['ok']} failed {r['failed']} (of 60); INVITEs retried on the other node: "
          f"{len(retried)}")
    print(f"  answered calls placed between the kill and the mark: {len(window)}, setup ms "
          f"{[round(s[1]) for s in window]}")
    slow_after = [round(s[1]) for s in after if s[1] > 500]
    print(f"  answered calls placed after the mark: {len(after)}, setup > 500 ms: {slow_after}")
    dsdown = [ln for ln in (SPIKE / "kam/kamailio.log").read_text().splitlines()
              if "DSDOWN" in ln or "DSUP" in ln]
    for ln in dsdown:
        m = re.search(r"(DSDOWN|DSUP) (\S+) at (\d+)\.(\d+)", ln)
        if m:
            t = float(f"{m.group(3)}.{m.group(4).zfill(6)}")
            print(f"  {m.group(1)} {m.group(2)} at kill + {t - kill_at:.2f} s")
    # recovery: node 2 back
    took = start_node(2)
    back = wait_flags(2, "A", 60)
    print(f"node 2 restarted: SIP port bound after {took:.2f} s, marked active "
          f"{back if back is None else round(back, 2)} s later")
    before = {n: calls_processed(n) for n in NODES}
    r2 = Sipp(calls=6, rate=4, hold_ms=1000).wait()
    print(f"  6 new calls after it came back: per node {per_node(before)} ok {r2['ok']}")
    stop_kamailio()


def ids(args: argparse.Namespace) -> None:
    """Channel ids on two nodes started the same second: do they collide?"""
    for n in NODES:
        stop_node(n)
    for n in NODES:
        start_node(n, wait=False)
    for n in NODES:
        while not udp_bound(NODES[n]):
            time.sleep(0.05)
    start_kamailio(["--alg", "4"])
    held = Sipp(calls=4, rate=20, hold_ms=4000)
    time.sleep(2)
    seen: dict[str, int] = {}
    for n in NODES:
        # concise: channel!context!exten!prio!state!app!data!cid!acct!peeracct!ama!dur!
        #          bridge!uniqueid
        uids = [line.split("!")[13] for line in ast(n, "core show channels concise").splitlines()
                if line.count("!") >= 13]
        print(f"node {n} channel ids (= ARI channel ids): {uids}")
        for u in uids:
            seen[u] = seen.get(u, 0) + 1
    print("ids on both nodes at once:", [u for u, c in seen.items() if c > 1])
    held.wait()
    stop_kamailio()


def agent(args: argparse.Namespace) -> None:
    """Any node rings an agent registered at Kamailio only (Asterisk -> Kamailio
    -> usrloc); and the app_queue fallback of two nodes rings one agent twice.
    Needs agent 1001 (password Spike-agent-1001) in queue spike (spike.sh render)."""
    sys.path.insert(0, str(HERE.parent.parent))
    from tests.harness.sipp import SCENARIOS, scenario
    for n in NODES:  # fresh configs
        stop_node(n)
        start_node(n)
    start_kamailio(["--alg", "4", "--ping-interval", "1"])
    reg = subprocess.run(
        ["sipp", f"127.0.0.1:{KAM_SIP}", "-sf", str(scenario("register", expect=200, hold_ms=0)),
         "-i", "127.0.0.41", "-p", "5070", "-m", "1", "-nostdin", "-timeout", "10s",
         "-timeout_error", "-au", "1001", "-ap", "Spike-agent-1001", "-key", "user", "1001",
         "-key", "contact_port", "5071", "-key", "expires", "300"],
        capture_output=True, text=True, cwd=SPIKE)
    print("agent 1001 registered at Kamailio:", reg.returncode == 0)
    phone = subprocess.Popen(
        ["sipp", "-sf", str(SCENARIOS / "agent.xml"), "-i", "127.0.0.41", "-mi", "127.0.0.41",
         "-p", "5071", "-m", "2", "-nostdin", "-timeout", "40s", "-key", "rtp_port", "47000",
         "-trace_msg", "-message_file", str(SPIKE / "agent-msgs.log")],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, cwd=SPIKE)
    time.sleep(0.5)
    before = {n: calls_processed(n) for n in NODES}
    r = Sipp(calls=2, rate=10, hold_ms=5000).wait()
    phone.wait(timeout=60)
    invites = [ln for ln in (SPIKE / "agent-msgs.log").read_text().splitlines()
               if ln.startswith("INVITE ")]
    vias = re.findall(r"Via: SIP/2.0/UDP 127.0.0.1:(30080|30580)",
                      (SPIKE / "agent-msgs.log").read_text())
    print(f"2 callers, alg 4: per node {per_node(before)}, ok {r['ok']}; the agent's phone got "
          f"{len(invites)} INVITEs, from nodes' ports {sorted(set(vias))}; phone exit "
          f"{phone.returncode} (0: both answered and hung up by the far end)")
    out = kamcmd("dispatcher.add", "1", "sip:127.0.0.1:30999", "9")
    time.sleep(2.5)
    print(f"dispatcher.add flags 9 (inactive+probing), a dead node: {out.strip()} -> "
          f"{ds_flags().get('sip:127.0.0.1:30999')}")
    stop_kamailio()


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("spread")
    sub.add_parser("drain")
    sub.add_parser("ids")
    sub.add_parser("agent")
    f = sub.add_parser("failover")
    f.add_argument("--alg", type=int, default=10)
    f.add_argument("--ping-interval", type=int, default=5)
    f.add_argument("--probing-threshold", type=int, default=1)
    f.add_argument("--ping-timeout-ms", type=int, default=0)
    f.add_argument("--invite-timeout-ms", type=int, default=0)
    f.add_argument("--mark-on-failure", action="store_true")
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root (chroot)")
    socket.setdefaulttimeout(5)
    try:
        {"spread": spread, "drain": drain, "failover": failover, "ids": ids,
         "agent": agent}[args.cmd](args)
    finally:
        stop_kamailio()


if __name__ == "__main__":
    main()
