"""One call's life, from the caller's arrival to the recording filed.

1. :func:`caller_arrives`: answered and hearing music on hold before anything
   is looked up; the queue's settings come from memory, the CRM lookup is
   bounded (:data:`LOOKUP_BOUND_S`): past it the call is routed without the
   customer's file. A queue the ACD cannot know sends the caller back to the
   dialplan, whose ``app_queue`` fallback takes them: never dead air.
2. :mod:`control.acd.distribution` offers the caller to agents, best first;
   :func:`agent_answers` bridges the one who answers (:func:`connect`, the
   one way every kind of call is put through, outbound too).
3. :func:`channel_gone` / :func:`end`: a hang-up ends the other legs, puts
   the agent in wrap-up, and hands the call's end to the call log.
4. :func:`recording_finished`: the recording is filed once Asterisk says it
   is closed (ARI ``RecordingFinished``), never after a guessed sleep.

Every write goes through the call log (:mod:`control.acd.call_log`): the
database may be locked or down, the caller still reaches an agent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from control.acd import distribution, supervision
from control.acd.calls import LiveCall, PendingRecording
from control.acd.models import AgentStatus, CallState
from control.acd.needs import resolve as resolve_needs
from control.acd.queue_book import LOOKUP_BOUND_S
from control.acd.store import now
from control.errors import Conflict
from control.telephony.ari import AriError

if TYPE_CHECKING:
    from control.acd.router import Router

log = logging.getLogger(__name__)

RECORDING_LATE_S = 10.0  # filed anyway if Asterisk never says it closed the file
CALL_LOG_WAIT_S = 10.0  # a remote node's copy is deleted once the row says where it went
NO_CUSTOMER: tuple[int | None, str | None, bool, dict[str, Any]] = (None, None, False, {})


async def caller_arrives(acd: Router, channel: dict[str, Any], args: list[str]) -> None:
    chan_id = channel["id"]
    call_id = acd.calls.by_channel.get(chan_id)
    queue_name = args[0] if args else ""
    # the caller hears music before anything is looked up
    await acd.ari.request_quietly("POST", f"/channels/{chan_id}/answer")
    await acd.ari.request_quietly("POST", f"/channels/{chan_id}/moh", mohClass="default")
    try:
        queue = await acd.queues.fetch(queue_name)
    except Exception as exc:  # the database cannot say, now: app_queue can
        log.warning("queue %r unknown here and the database is away (%s): back to the "
                    "dialplan", queue_name, exc or type(exc).__name__)
        queue = None
    if queue is None or call_id is None:
        log.warning("call for unknown queue %r: back to the dialplan", queue_name)
        acd.calls.unlink(chan_id)
        await acd.ari.request_quietly("DELETE", f"/channels/{chan_id}/moh")
        await acd.ari.request_quietly("POST", f"/channels/{chan_id}/continue")
        return
    priority = int(args[3]) if len(args) > 3 and args[3].lstrip("-").isdigit() else 0
    number = channel.get("caller", {}).get("number", "")
    customer_id, previous_agent, vip, context = await _lookup(
        acd, number, int(args[4]) if len(args) > 4 and args[4].isdigit() else None)
    if vip:
        priority += 10  # VIP segment first, then wait time
    # what the caller needs: the IVR's choice, else the customer's file, else the queue
    needs = resolve_needs(args[1:3], context, queue).as_dict()
    language = needs["language"]["value"]
    skills = tuple(s["skill"] for s in needs["skills"])
    call = LiveCall(id=call_id, queue=queue_name, caller_channel=chan_id, caller_number=number,
                    language=language, skills=skills, priority=priority,
                    customer_id=customer_id, previous_agent=previous_agent, context=context,
                    entered=asyncio.get_running_loop().time(), needs=needs,
                    media_node=acd.ari.node_of(chan_id))
    entered_at = now()
    call.row = {"id": call_id, "queue": queue_name, "caller_number": number,
                "customer_id": customer_id, "language": language, "skills": list(skills),
                "priority": priority, "state": CallState.WAITING.value,
                "agent_extension": None, "entered_at": entered_at.isoformat(),
                "answered_at": None, "ended_at": None, "recording": None,
                "direction": "inbound", "task_id": None}
    acd.calls.add(call)
    acd.call_log.call(call_id, caller_channel=chan_id, queue=queue_name, caller_number=number,
                      customer_id=customer_id, language=language, skills=list(skills),
                      priority=priority, entered_at=entered_at,
                      state=CallState.WAITING.value, media_node=call.media_node)
    await acd.notifier.call_queued(call)
    acd.distributor.request()


async def _lookup(acd: Router, number: str, identified: int | None
                  ) -> tuple[int | None, str | None, bool, dict[str, Any]]:
    """Who is calling: the customer identified in the IVR (a keyed DNI or
    policy number: the caller ID may be anyone's phone), else whoever the
    caller ID belongs to. Bounded: routing goes on without the file."""
    try:
        async with asyncio.timeout(LOOKUP_BOUND_S):
            found = (await acd.crm.lookup_customer(identified)
                     if identified is not None else None)
            if found is None or found[0] is None:
                found = await acd.crm.lookup(number)
            return found
    except Exception as exc:
        log.warning("CRM lookup of %s skipped (%s): routed without the customer's file",
                    number or "anonymous", exc or type(exc).__name__)
        return NO_CUSTOMER


async def agent_answers(acd: Router, channel: dict[str, Any], args: list[str]) -> None:
    """Stasis ``agent,CALL``: the agent picked up; bridge them with the caller."""
    chan_id = channel["id"]
    call = acd.calls.get(args[0]) if args else None
    if call is None or call.ended or call.agent_channel != chan_id:
        await acd.ari.request_quietly("DELETE", f"/channels/{chan_id}")
        return
    extension = call.ringing_agent or ""
    await acd.ari.request_quietly("DELETE", f"/channels/{call.caller_channel}/moh")
    if acd.announcing.pop(f"announce-{call.id}", None):
        await acd.ari.request_quietly("DELETE", f"/playbacks/announce-{call.id}")
    queue = acd.queues.get(call.queue)
    await connect(acd, call, chan_id, extension, bool(queue and queue["record"]))


async def connect(acd: Router, call: LiveCall, agent_channel: str, extension: str,
                  record: bool) -> None:
    """Bridge the customer's leg with the agent's, record, and tell: the one
    way every kind of call is put through (inbound, outbound, transfers)."""
    bridge = await acd.ari.request("POST", "/bridges", node=acd.node_of(call),
                                   type="mixing", name=f"call-{call.id}")
    call.bridge_id = bridge["id"]
    await acd.ari.request("POST", f"/bridges/{bridge['id']}/addChannel",
                          channel=f"{call.caller_channel},{agent_channel}")
    call.answered = True
    call.ringing_agent = None
    call.agent_channel = agent_channel
    recording = None
    if record:
        recording = f"{call.id}.wav"
        started = await acd.ari.request_quietly(
            "POST", f"/bridges/{bridge['id']}/record", name=call.id,
            # a transferred call goes on in the same file
            format="wav", ifExists="append")
        call.recording = call.id if started is not None else None
    answered_at = now()
    call.row = call.row | {"state": CallState.ANSWERED.value, "agent_extension": extension,
                           "answered_at": answered_at.isoformat(), "recording": recording}
    acd.call_log.call(call.id, state=CallState.ANSWERED.value, agent_extension=extension,
                      answered_at=answered_at, bridge_id=bridge["id"],
                      agent_channel=agent_channel, recording=recording)
    # the row keeps the last answer only: a transferred call is answered again
    acd.call_log.event(call.id, "answered", extension)
    acd.agents.answered(extension)
    await acd.agents.on_call(extension)
    await acd.notifier.call_answered(call)
    acd.tell(acd.on_connected, call.legs())  # e.g. the speech tap, apart from the call


async def channel_gone(acd: Router, chan_id: str, cause: int | None) -> None:
    if chan_id in acd.calls.supervision:  # the supervisor hung up: the call goes on
        await supervision.end_supervision(acd, chan_id)
        return
    watched = next((sup for sup, s in acd.calls.supervision.items()
                    if s.snoop_channel == chan_id), None)
    if watched:  # the agent's leg (and its snoop) went: nothing left to listen to
        await supervision.end_supervision(acd, watched, hang_up=True)
        return
    call_id = acd.calls.by_channel.pop(chan_id, None)
    call = acd.calls.get(call_id) if call_id else None
    if call is None or call.ended:
        return
    if chan_id == call.consult_channel:  # the consulted agent hung up or never answered
        call.consult_channel = call.consult_agent = None
        await acd.notifier.call_consult_ended(call)
        return
    if call.direction == "outbound" and not call.answered:
        await (call.on_leg_failed or acd.dialer.leg_failed)(call, chan_id, cause)
        return
    if chan_id == call.agent_channel and not call.answered:
        extension = call.ringing_agent
        if extension:
            log.info("agent %s did not answer call %s (cause %s)", extension, call.id, cause)
            await distribution.ring_failed(acd, call, extension)
        return
    await end(acd, call, gone=chan_id)


async def end(acd: Router, call: LiveCall, gone: str | None = None) -> None:
    """The caller or the agent hung up (``gone``: that leg, or reconcile
    found them gone): end the other legs, free the agent, close the call."""
    if call.ended:
        return
    call.ended = True
    ended_at = now()  # when it was known, whenever the database takes it
    acd.calls.remove(call)
    for sup in list(call.supervisors):
        await supervision.end_supervision(acd, sup, hang_up=True)
    for chan in (call.caller_channel, call.agent_channel, call.consult_channel):
        if chan and chan != gone:
            await acd.ari.request_quietly("DELETE", f"/channels/{chan}")
    if call.bridge_id:  # its recording, if any, closes: RecordingFinished files it
        await acd.ari.request_quietly("DELETE", f"/bridges/{call.bridge_id}")
    state = CallState.COMPLETED if call.answered else CallState.ABANDONED
    row = call.row | {"state": state.value, "ended_at": ended_at.isoformat()}
    extension = row.get("agent_extension")
    if call.answered and extension:
        await acd.agents.start_wrapup(extension, acd.wrapup_s(call))
    elif call.ringing_agent:
        await acd.agents.free(call.ringing_agent)
    if call.answered and row.get("recording"):
        acd.recordings_pending[call.id] = PendingRecording(extension, acd.node_of(call))
        acd.lanes.later(RECORDING_LATE_S, call.id,
                        lambda: recording_finished(acd, call.id, late=True), "late recording")
    acd.call_log.ended(row)
    await acd.notifier.call_ended(call, row)
    if call.answered:
        acd.tell(acd.on_ended, call.legs())
    acd.distributor.request()


async def recording_finished(acd: Router, name: str, late: bool = False) -> None:
    """Asterisk closed a recording (or, ``late``, never said so): file the
    call's recording once the call is over. A recording that finishes while
    the call goes on (a transfer destroys the bridge) is appended to later."""
    pending = acd.recordings_pending.get(name)
    if pending is None:
        return
    node = pending.node
    if node != acd.ari.default and acd.ari.spool_of(node) is None:
        await fetch_recording(acd, name, node, late)  # a node run elsewhere
        return
    # in the spool of the node that recorded it
    spool = acd.ari.spool_of(node) or acd.recordings_spool
    src = spool / f"{name}.wav"
    if late and not src.exists():
        acd.recordings_pending.pop(name, None)
        log.warning("call %s: no recording came out of Asterisk", name)
        return
    extension = acd.recordings_pending.pop(name).agent
    if not src.exists():
        log.warning("call %s: recording finished but %s is not there", name, src)
        return
    dst = acd.recordings_dir / src.name
    try:
        await asyncio.to_thread(file_recording, src, dst)
    except OSError as exc:  # the recordings disk is full (or gone): kept where it is
        await acd.recordings_disk.refused(exc, src)
        dst = src
    acd.call_log.recording(name, str(dst))
    acd.call_log.event(name, "recording_filed", extension)
    await acd.notifier.recording_filed(name, extension, str(dst))


async def fetch_recording(acd: Router, name: str, node: str, late: bool) -> None:
    """A recording made on a node run elsewhere (no spool folder here):
    fetched over its ARI into the recordings folder, then deleted there. A
    node that cannot hand it over now (down, the disk here full) keeps it:
    logged with where it is, and the row keeps the file's name."""
    dst = acd.recordings_dir / f"{name}.wav"
    try:
        await acd.ari.download(f"/recordings/stored/{name}/file", dst, node=node)
    except AriError as exc:
        acd.recordings_pending.pop(name, None)
        if late and exc.status == 404:  # it never came out of Asterisk
            log.warning("call %s: no recording came out of %s", name, node)
        else:
            log.error("call %s: the recording could not be fetched from %s (%s): it stays "
                      "there", name, node, exc)
        return
    except OSError as exc:  # the recordings disk is full (or gone): left on the node
        acd.recordings_pending.pop(name, None)
        await acd.recordings_disk.refused(exc, dst)
        return
    extension = acd.recordings_pending.pop(name).agent
    # the row names the path before anything is awaited: a reconcile of the
    # node meanwhile must not see it unfiled and not pending; and it is
    # written (or kept in the outbox) before the node's copy goes
    acd.call_log.recording(name, str(dst))
    acd.call_log.event(name, "recording_filed", extension)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(acd.call_log.flush(), CALL_LOG_WAIT_S)
    await acd.ari.request_quietly("DELETE", f"/recordings/stored/{name}", node=node)
    await acd.notifier.recording_filed(name, extension, str(dst))


def file_recording(src: Path, dst: Path) -> None:
    """Move a recording out of Asterisk's spool; on failure nothing is left
    half-written at ``dst`` (the copy of a full disk would take its space)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        shutil.move(str(src), str(dst))
    except OSError:
        if src.exists():
            with contextlib.suppress(OSError):
                dst.unlink(missing_ok=True)
        raise


async def announcement_done(acd: Router, playback: dict[str, Any]) -> None:
    """Back to music, unless the caller was picked up meanwhile."""
    entry = acd.announcing.pop(playback.get("id", ""), None)
    if entry is None:
        return
    call_id, position, minutes = entry
    call = acd.calls.get(call_id)
    if call is None or call.ended or call.answered:
        return
    await acd.ari.request_quietly("POST", f"/channels/{call.caller_channel}/moh",
                                  mohClass="default")
    await acd.notifier.call_announced(call, position, minutes, playback.get("state"))


async def announce_position(acd: Router, call: LiveCall, position: int, minutes: int) -> None:
    """Tell a waiting caller their position and expected wait, then music again."""
    if call.ended or not call.queued:
        return
    media = (["sound:queue-youarenext"] if position == 1 else
             ["sound:queue-thereare", f"number:{position}", "sound:queue-callswaiting"])
    media += ["sound:queue-holdtime", f"number:{minutes}",
              "sound:queue-minute" if minutes == 1 else "sound:queue-minutes"]
    await acd.ari.request_quietly("DELETE", f"/channels/{call.caller_channel}/moh")
    played = await acd.ari.request_quietly("POST", f"/channels/{call.caller_channel}/play",
                                           media=media, playbackId=f"announce-{call.id}")
    if played is None:
        await acd.ari.request_quietly("POST", f"/channels/{call.caller_channel}/moh",
                                      mohClass="default")
        return
    acd.announcing[f"announce-{call.id}"] = (call.id, position, minutes)


async def overflow(acd: Router, call: LiveCall) -> None:
    """Waited past the queue's max wait: a callback task, and the dialplan's
    overflow (voicemail, callback offer)."""
    if not call.queued:
        return
    call.ended = True
    acd.calls.remove(call)
    row = call.row | {"state": CallState.CALLBACK.value, "ended_at": now().isoformat()}
    acd.call_log.ended(row)
    await acd.notifier.call_overflowed(call, row)
    await acd.ari.request_quietly("DELETE", f"/channels/{call.caller_channel}/moh")
    await acd.ari.request_quietly("POST", f"/channels/{call.caller_channel}/continue",
                                  context="acd-overflow", extension="s", priority=1)


async def feature_code(acd: Router, channel: dict[str, Any], args: list[str]) -> None:
    """Desk phones' *45 log in, *46 log out, *47 pause, *48 unpause."""
    chan_id = channel["id"]
    action, extension = (args + ["", ""])[:2]
    status = {"login": AgentStatus.AVAILABLE, "logout": AgentStatus.LOGGED_OUT,
              "pause": AgentStatus.PAUSED, "unpause": AgentStatus.AVAILABLE}.get(action)
    agent = None
    if status is not None and extension:
        try:
            agent, _ = await acd.request_status(
                extension, status, "break" if status == AgentStatus.PAUSED else None)
        except Conflict as exc:  # e.g. *45 from a second line while on a call
            log.info("feature code %s of %s refused: %s", action, extension, exc)
    await acd.ari.request_quietly("POST", f"/channels/{chan_id}/variable",
                                  variable="AIT_FEATURE_OK", value="1" if agent else "0")
    await acd.ari.request_quietly("POST", f"/channels/{chan_id}/continue")
