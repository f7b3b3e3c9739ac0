"""Supervision: every daemon of the stack comes back by itself when it dies.

The back-off policy is a pure function (tested first, instantly); the
supervisor itself is then run on toy daemons (``sh`` that exits) to see the
back-off, the give-up and the clean stop happen on real processes in a few
seconds; last, a real stack of its own (killing its daemons must not disturb
the session's stack) has each daemon killed with SIGKILL in turn: it must be
back within 10 s, ``aitcomms status`` must show restarts=1 and the signal, and
the next call must work. ``aitcomms down`` then stops everything for good.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from control.stack.backoff import Backoff, Decision, after_exit
from control.stack.components import port_open
from control.stack.manager import Stack
from control.stack.state import ExitRecord, SupervisorState
from tests.conftest import (
    _OFFSET,
    ROOT,
    SECOND_STACK_OFFSET,
    StackUnderTest,
    ports_at,
    running_stack,
)
from tests.harness import figures
from tests.harness.ami import Ami
from tests.harness.rtp import RtpEndpoint
from tests.test_acd import _health, add_agent, agent_phones, api, calls, wait_until
from tests.test_calls import TRUNK_IP, caller

# -- the back-off policy ----------------------------------------------------------


def test_backoff_doubles_then_gives_up_after_k_quick_deaths() -> None:
    policy = Backoff(first_s=1, factor=2, cap_s=30, stable_s=60, give_up_after=6)
    streak, delays = 0, []
    for _ in range(6):
        decision = after_exit(policy, streak, uptime_s=2)
        streak = decision.streak
        delays.append(decision.delay_s)
    assert delays == [1, 2, 4, 8, 16, None]


def test_backoff_is_capped() -> None:
    policy = Backoff(first_s=1, factor=2, cap_s=5, give_up_after=100)
    assert [after_exit(policy, n, uptime_s=0).delay_s for n in range(6)] == [1, 2, 4, 5, 5, 5]


def test_backoff_starts_over_after_a_healthy_run() -> None:
    policy = Backoff(first_s=1, stable_s=60, give_up_after=6)
    # five quick deaths in a row, then it ran for an hour: a new streak
    assert after_exit(policy, 5, uptime_s=3600) == Decision(streak=1, delay_s=1)
    assert after_exit(policy, 5, uptime_s=59).delay_s is None


def test_exit_records_say_how_a_daemon_ended() -> None:
    killed = ExitRecord.from_wait_status(signal.SIGKILL, at=0, uptime_s=12)  # as waitpid says
    assert killed.signal == 9 and not killed.clean
    assert killed.describe() == "00:00:00Z signal 9 (SIGKILL) after 12s"
    failed = ExitRecord.from_wait_status(3 << 8, at=0, uptime_s=0)
    assert failed.code == 3 and not failed.clean and "exit code 3" in failed.describe()
    assert ExitRecord.from_wait_status(0, at=0, uptime_s=5).clean
    assert ExitRecord.from_wait_status(signal.SIGTERM, at=0, uptime_s=5).clean
    assert not ExitRecord(at=0, reason="did not come up in 60 s").clean


# -- the supervisor on toy daemons ------------------------------------------------------

TOY_SUPERVISOR = textwrap.dedent("""
    import sys
    from pathlib import Path

    from control.settings import Settings
    from control.stack.backoff import Backoff
    from control.stack.components import Component
    from control.stack.supervisor import Supervisor

    var = Path(sys.argv[1])
    def toy(name, script):
        return Component(name=name, argv=["sh", "-c", script], ports=[],
                         pid_file=var / "run" / f"{name}.pid",
                         log_file=var / "log" / f"{name}.log")
    comps = [
        # dies 0.3 s after every start
        toy("flaky", f"date +%s.%N >> {var}/flaky.starts; sleep 0.3; exit 3"),
        # stops on its own, cleanly
        toy("done", f"date +%s.%N >> {var}/done.starts; exit 0"),
    ]
    policy = Backoff(first_s=0.2, factor=2, cap_s=10, stable_s=30, give_up_after=4)
    sys.exit(Supervisor(Settings(var_dir=var), policy, comps, poll_s=0.02).run())
""")


def _starts(path: Path) -> list[float]:
    return [float(x) for x in path.read_text().split()] if path.exists() else []


def _toy_state(var: Path) -> SupervisorState | None:
    return SupervisorState.read(var / "run" / "supervisor.json")


def _wait_for(predicate: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def test_a_daemon_that_keeps_dying_is_restarted_with_backoff_then_given_up(
        tmp_path: Path) -> None:
    sup = subprocess.Popen([sys.executable, "-c", TOY_SUPERVISOR, str(tmp_path)], cwd=ROOT,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        def phase(name: str) -> str | None:
            state = _toy_state(tmp_path)
            return state.components[name].phase if state else None

        assert _wait_for(lambda: phase("flaky") == "gave_up", 15), phase("flaky")
        starts = _starts(tmp_path / "flaky.starts")
        gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
        figures.report("a daemon dying 0.3 s after each start: gaps "
                       f"{[round(g, 2) for g in gaps]} s")
        # four quick deaths: started 4 times, 3 of them restarts after 0.2, 0.4, 0.8 s
        assert len(starts) == 4, starts
        for gap, delay in zip(gaps, (0.2, 0.4, 0.8), strict=True):
            assert 0.3 + delay - 0.05 <= gap <= 0.3 + delay + 0.35, (gaps, delay)
        state = _toy_state(tmp_path)
        assert state is not None
        flaky = state.components["flaky"]
        assert flaky.restarts == 3 and flaky.streak == 4
        assert flaky.last_exit is not None and flaky.last_exit.code == 3
        assert "exit code 3" in flaky.last_exit.describe()
        # a clean exit is a stop on purpose: not restarted
        done = state.components["done"]
        assert done.phase == "stopped" and done.restarts == 0, done
        assert len(_starts(tmp_path / "done.starts")) == 1

        # `aitcomms up` re-arms both (SIGHUP)
        sup.send_signal(signal.SIGHUP)
        assert _wait_for(lambda: len(_starts(tmp_path / "flaky.starts")) > 4
                         and len(_starts(tmp_path / "done.starts")) == 2, 5)
    finally:
        sup.terminate()
        out, _ = sup.communicate(timeout=10)
    assert sup.returncode == 0, out
    assert "gave up after 4 quick deaths" in out, out


# Asterisk's way of dying on SIGKILL, slowed down: its main thread is gone (a
# zombie in /proc) while another thread still runs, and waitpid() reports
# the process only when that thread is gone too, here 1 s later with code 7
THREADED_TOY = textwrap.dedent("""
    import sys
    from pathlib import Path
    from control.settings import Settings
    from control.stack.backoff import Backoff
    from control.stack.components import Component
    from control.stack.supervisor import Supervisor
    var = Path(sys.argv[1])
    script = ("import ctypes, os, threading, time\\n"
              "threading.Thread(target=lambda: (time.sleep(1.0), os._exit(7))).start()\\n"
              "time.sleep(0.2)\\n"
              "ctypes.CDLL(None).pthread_exit(None)\\n")
    comps = [Component(name="threaded", argv=[sys.executable, "-c", script], ports=[],
                       pid_file=var / "run" / "threaded.pid",
                       log_file=var / "log" / "threaded.log")]
    policy = Backoff(first_s=30, give_up_after=4)
    sys.exit(Supervisor(Settings(var_dir=var), policy, comps, poll_s=0.02).run())
""")


def test_a_daemon_whose_main_thread_goes_first_still_has_its_exit_status(
        tmp_path: Path) -> None:
    sup = subprocess.Popen([sys.executable, "-c", THREADED_TOY, str(tmp_path)], cwd=ROOT,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        def last_exit() -> ExitRecord | None:
            state = _toy_state(tmp_path)
            return state.components["threaded"].last_exit if state else None
        assert _wait_for(lambda: last_exit() is not None, 10)
        record = last_exit()
    finally:
        sup.terminate()
        out, _ = sup.communicate(timeout=10)
    assert record is not None and record.code == 7, (record, out)
    assert record.uptime_s is not None and record.uptime_s >= 1.0, record


# -- a real stack of its own ---------------------------------------------------------------

IVR_DID = "+34910000061"
QUEUE_DID = "+34910000062"
AGENT = "1062"


@pytest.fixture(scope="module")
def own_stack() -> Iterator[StackUnderTest]:
    # At the session's offset when this module runs alone (the session stack
    # is not up), else beside it, as every second stack.
    taken = port_open("udp", ports_at(_OFFSET)["SIP"])
    # liveness probes every second, each given 2 s, 3 misses kill: a hung
    # daemon goes within about 10 s, and a busy one on this shared machine
    # still has 6 s or more to answer before it counts as hung
    with running_stack(SECOND_STACK_OFFSET if taken else _OFFSET,
                       AITCOMMS_LIVENESS_INTERVAL_S="1", AITCOMMS_LIVENESS_TIMEOUT_S="2",
                       AITCOMMS_LIVENESS_FAILURES="3") as stack:
        stack.aitcomms("trunk", "add", "carrier", "--host", TRUNK_IP, "--port", "5060")
        stack.aitcomms("did", "add", IVR_DID, "--to", "ivr:welcome")
        add_agent(stack, AGENT, languages="es")
        stack.aitcomms("queue", "add", "soporte", "--members", AGENT, "--wrapup", "1")
        stack.aitcomms("did", "add", QUEUE_DID, "--to", "queue:soporte")
        yield stack


def _up(stack: StackUnderTest, name: str) -> bool:
    return Stack(stack.settings).component(name).status()[0]


async def _ivr_call_hears_the_prompt(stack: StackUnderTest) -> None:
    rtp = await RtpEndpoint.open(TRUNK_IP)
    try:
        result = await caller(stack, IVR_DID, rtp, call_ms=15000).run()
    finally:
        rtp.close()
    assert result.returncode == 0 and result.successful == 1, result.output
    assert rtp.packets > 40, f"only {rtp.packets} RTP packets heard"
    assert rtp.rms() > 300, f"what the caller heard is silence (rms {rtp.rms():.0f})"


async def _queue_call_reaches_the_agent(stack: StackUnderTest) -> None:
    """The control plane's own router: a caller to a queue is bridged with its agent."""
    async with agent_phones(stack, AGENT) as phones, \
            Ami(stack.port("ami"), stack.secret("AMI_PASSWORD")) as ami:
        rtp = await RtpEndpoint.open(TRUNK_IP)
        call = caller(stack, QUEUE_DID, rtp, call_ms=4000, from_user="34600555444")
        try:
            await call.start()
            members = await ami.wait_for(
                lambda: ami.bridge_holding(f"PJSIP/agent-{AGENT}-", size=2), 10)
            assert members, "the agent never took the call"
            assert (await call.wait(20)).returncode == 0
            assert (await phones[AGENT].result(10)).returncode == 0
        finally:
            call.kill()
            rtp.close()


def _rtpengine_pongs(stack: StackUnderTest) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(2)
        s.sendto(b"c1 d7:command4:pinge", ("127.0.0.1", stack.port("rtpengine_ng")))
        return b"pong" in s.recv(1024)


@pytest.mark.resilience
@pytest.mark.parametrize("name", ["asterisk", "rtpengine", "kamailio", "control"])
async def test_killed_daemon_is_back_within_10_s_and_the_next_call_works(
        own_stack: StackUnderTest, name: str) -> None:
    stack = own_stack
    assert await wait_until(lambda: _health(stack) == "ok", 15), "not healthy before the kill"
    pid = int((stack.var_dir / "run" / f"{name}.pid").read_text())
    killed = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    assert await wait_until(lambda: not _up(stack, name), 5), f"{name} did not die"
    back = await wait_until(lambda: _up(stack, name), 10)
    recovered = time.monotonic() - killed
    healthy = await wait_until(lambda: _health(stack) == "ok", 20)
    figures.report(f"{name}: killed (pid {pid}); back (listening) in {recovered:.1f} s, "
          f"control plane healthy (AMI+ARI) {time.monotonic() - killed:.1f} s after the kill")
    assert back and recovered < 10, f"{name} not back within 10 s"
    assert healthy, f"the control plane did not reconnect after {name} came back"

    proc = stack.aitcomms("status", check=False)
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith(name))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert line.split()[1] == "up" and int(line.split()[2]) != pid, line
    assert re.search(r"\s1\s+\d\d:\d\d:\d\dZ signal 9 \(SIGKILL\)", line), line
    assert "supervisor: up" in proc.stderr

    await _ivr_call_hears_the_prompt(stack)
    if name == "rtpengine":
        assert _rtpengine_pongs(stack)
    if name in ("asterisk", "control"):
        # routed by the control plane over ARI: its Stasis app is subscribed again
        await _queue_call_reaches_the_agent(stack)


@pytest.mark.resilience
async def test_asterisk_killed_mid_call_comes_back_and_the_acd_goes_on(
        own_stack: StackUnderTest) -> None:
    """The issue's case: the control plane closes the call that died with
    Asterisk and frees its agent; Asterisk is back by itself; the next caller
    to the queue reaches that agent."""
    stack = own_stack
    number = "34600333222"
    async with agent_phones(stack, AGENT) as phones, \
            Ami(stack.port("ami"), stack.secret("AMI_PASSWORD")) as ami:
        rtp = await RtpEndpoint.open(TRUNK_IP)
        call = caller(stack, QUEUE_DID, rtp, call_ms=60000, from_user=number)
        try:
            await call.start()
            assert await ami.wait_for(
                lambda: ami.bridge_holding(f"PJSIP/agent-{AGENT}-", size=2), 10)
            killed = time.monotonic()
            os.kill(int((stack.var_dir / "run" / "asterisk.pid").read_text()), signal.SIGKILL)
            assert await wait_until(lambda: not _up(stack, "asterisk"), 5)
            assert await wait_until(lambda: _up(stack, "asterisk"), 10)
            back = time.monotonic() - killed
            assert await wait_until(lambda: _health(stack) == "ok", 20)
            figures.report(f"asterisk killed mid-call: back in {back:.1f} s, the control plane "
                  f"healthy again {time.monotonic() - killed:.1f} s after the kill")
        finally:
            call.kill()
            rtp.close()
            phones[AGENT].sipp.kill()

    def closed() -> bool:
        rows = [c for c in calls(stack) if number in c["caller_number"]]
        return bool(rows) and all(c["state"] != "answered" for c in rows)

    assert await wait_until(closed, 15), [c["state"] for c in calls(stack)]
    assert await wait_until(lambda: _agent_status(stack) == "available", 15), \
        _agent_status(stack)
    await _queue_call_reaches_the_agent(stack)


@pytest.mark.resilience
@pytest.mark.parametrize("name", ["asterisk", "rtpengine", "kamailio", "control"])
async def test_hung_daemon_is_killed_and_replaced_and_the_next_call_works(
        own_stack: StackUnderTest, name: str) -> None:
    """Alive but not answering (SIGSTOP to its whole process group, as a
    deadlock looks from outside): its pid and sockets stay, only the liveness
    probe can tell. The supervisor kills it, restarts it, and says why."""
    stack = own_stack
    assert await wait_until(lambda: _health(stack) == "ok", 15), "not healthy before"
    # the daemon itself up (health is the control plane's view: not rtpengine's)
    assert await wait_until(lambda: _supervised_up(stack, name), 15), _status_line(stack, name)
    pid = int((stack.var_dir / "run" / f"{name}.pid").read_text())
    restarts_before = _restarts(stack, name)
    stopped = time.monotonic()
    os.killpg(pid, signal.SIGSTOP)
    try:
        replaced = await wait_until(lambda: _up(stack, name) and _pid(stack, name) != pid, 30)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGCONT)  # if it was not killed, do not leave it stopped
    took = time.monotonic() - stopped
    figures.report(f"{name}: hung (SIGSTOP) -> killed and replaced in {took:.1f} s")
    assert replaced, f"{name} hung and was not replaced within 30 s"
    assert _gone(pid), f"the hung {name} is still there"

    # listening may come before the supervisor has recorded it up
    assert await wait_until(lambda: _supervised_up(stack, name), 10), _status_line(stack, name)
    line = _status_line(stack, name)
    assert "liveness probes unanswered" in line and "SIGKILL" in line, line
    assert _restarts(stack, name) == restarts_before + 1, line
    assert await wait_until(lambda: _health(stack) == "ok", 20), "not healthy after"
    await _queue_call_reaches_the_agent(stack)


def _status_line(stack: StackUnderTest, name: str) -> str:
    """Its line of `aitcomms status` (the supervisor's record of it)."""
    proc = stack.aitcomms("status", check=False)
    return next(ln for ln in proc.stdout.splitlines() if ln.startswith(name))


def _supervised_up(stack: StackUnderTest, name: str) -> bool:
    return _up(stack, name) and _status_line(stack, name).split()[1] == "up"


def _pid(stack: StackUnderTest, name: str) -> int | None:
    return Stack(stack.settings).component(name).pid()


def _restarts(stack: StackUnderTest, name: str) -> int:
    state = SupervisorState.read(stack.var_dir / "run" / "supervisor.json")
    return state.components[name].restarts if state else 0


def _gone(pid: int) -> bool:
    """Not running: no such process, or a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def _agent_status(stack: StackUnderTest) -> str:
    agents = api(stack, "/api/v1/agents")["agents"]
    return str(next(a["status"] for a in agents if a["extension"] == AGENT))


@pytest.mark.resilience
def test_down_stops_everything_and_nothing_restarts(own_stack: StackUnderTest) -> None:
    stack = own_stack
    run = stack.var_dir / "run"
    pids = {name: int((run / f"{name}.pid").read_text())
            for name in ("asterisk", "rtpengine", "kamailio", "control", "supervisor")}
    stack.aitcomms("down")
    time.sleep(5)  # a supervisor still at work would have restarted something
    alive = [n for n, p in pids.items() if Path(f"/proc/{p}").exists()]
    assert not alive, f"still running after down: {alive}"
    stack_ = Stack(stack.settings)
    assert not any(r.up or r.pid for r in stack_.status()), stack_.status()
    assert stack_.supervisor.pid() is None
    assert not port_open("udp", stack.port("sip")) and not port_open("tcp", stack.port("http"))
    cfg = str(stack.var_dir / "kamailio" / "kamailio.cfg")
    leftovers = [p.name for p in Path("/proc").iterdir() if p.name.isdigit()
                 and _cmdline_has(p, cfg)]
    assert not leftovers, f"Kamailio processes left: {leftovers}"
    proc = stack.aitcomms("status", check=False)
    assert proc.returncode == 3 and "supervisor: NOT RUNNING" in proc.stderr


def _cmdline_has(proc: Path, text: str) -> bool:
    try:
        return text in (proc / "cmdline").read_text(errors="replace")
    except OSError:
        return False
