"""Outbound pacing: how many lines a campaign's dialer should start now.

Pure logic, no I/O, no asyncio: the caller passes the clock (``now``, seconds
on any monotonic or epoch scale, the same one for every call) and the live
counts; the dialer (and ``bench/dialer.py``, with the very same calls) does:

    pacer = Pacer(settings)
    ...every second or so, and whenever an agent frees up:
    soon = pacer.agents_soon_free([seconds each busy agent has been on its call])
    n = pacer.lines_to_dial(now, agents_free=..., agents_soon_free=soon,
                            lines_in_progress=...)
    ...for each line when its outcome is known (answered by a person and given
    an agent or the recorded message, machine, busy, no answer, failed):
    pacer.record_attempt(now, result, abandoned=..., answered_after_s=...)
    ...for each call an agent finishes (talk, then wrap-up):
    pacer.record_handle(talk_s, wrap_up_s)

Modes. *progressive*: at most one line per free agent (``agents_free -
lines_in_progress``, never negative): every person who answers has an agent.
*predictive*: lines for the agents available (free, or busy but expected free
before the earliest answers: :meth:`Pacer.agents_soon_free`, from the
measured handle and answer times), as many as the abandonment allowance lets.

How many (after VICIdial's AST_VDadapt.pl and docs/PREDICTIVE.txt, read in
the inktel/Vicidial and ccabrerar/vicidial mirrors, with a model where
VICIdial only nudges its level by "agents waiting minus calls waiting"):

- each call of :meth:`Pacer.lines_to_dial` plans: with ``p`` the measured
  share of lines a person answers (last ``sample_attempts`` attempts), the
  lines already out weighted by their own, lower, chance (a line still
  ringing is more likely a no-answer: Little's law on the measured answers,
  times to answer and lines out) and ``A`` the available agents less
  ``free_agents_target`` (VICIdial's "dial level difference target", sign
  turned: 1 keeps one agent free on average), the most lines for which the
  persons beyond ``A``, ``E[max(0, H - A)]`` (``H`` a sum of binomials), stay
  within the allowance share of ``E[H]``. A low answer rate raises the lines
  per agent, a small team gets fewer (its answers bunch up more); never
  fewer than ``min_dial_level`` per free agent nor more than
  ``max_dial_level`` per available agent;
- every ``recompute_s`` (VICIdial: 15 s) the allowance is set and the dial
  level (the lines per available agent the planner wanted over the period,
  within ``min_dial_level``-``max_dial_level``) is checked against the cap
  rules. The allowance: the cap, plus the window's budget (the abandoned
  calls the cap still allows on the persons answered so far, less those
  used) spread over the next BUDGET_PERSONS persons, times PLAN_SHARE (the
  model under-counts), times a trim (VICIdial's intensity: +10 % while agents
  sit idle with no abandoned call in five minutes, -20 % after two or more
  abandoned over the cap in five minutes). The cap rules, on the legal
  figure over the operator's window (``window_s``: a day, 30 days),
  abandoned / answered by a person, from RULES_MIN_PERSONS persons on
  (VICIdial: 50 calls), at HOLD_SHARE of the cap (lines already out may
  still be abandoned after a stop):

  * ``hard_limit`` (ADAPT_HARD_LIMIT): at the cap the dialer stops adding
    lines (level 1.0, only free agents count, as progressive) until the
    figure is back under;
  * ``tapered`` (ADAPT_TAPERED): the allowance is 2x the cap (x PLAN_SHARE)
    at the start of the shift (``shift_s`` from the first call seen),
    falling linearly to 0 at its end, so early running over is paid back
    later; over the cap the level is cut by the share of the shift left;
    after the shift, over the cap, it stops as hard limit does;
  * ``average`` (ADAPT_AVERAGE): over the cap the level is halved, never
    stopped; its allowance also steers the figure back to the cap.

  And VICIdial's emergency brake in every method: more than 20 attempts in
  the last minute with more than half of their persons abandoned halve the
  level.

How it fails: it trusts what it is told. A dialer that never reports
attempts keeps the prior (every line answered by a person: level 1.0); one
that reports no abandoned calls gets an abandonment figure of 0. Settings
out of range raise :class:`control.errors.InvalidInput` naming the field.
The windows are kept in 1440 buckets (a minute for a day's window), so the
figure may count up to one bucket more than the window; memory is bounded.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from control.errors import InvalidInput

Mode = Literal["progressive", "predictive"]
Adapt = Literal["hard_limit", "tapered", "average"]
Result = Literal["human", "machine", "busy", "no_answer", "failed"]

MODES: tuple[str, ...] = ("progressive", "predictive")
ADAPTS: tuple[str, ...] = ("hard_limit", "tapered", "average")
RESULTS: tuple[str, ...] = ("human", "machine", "busy", "no_answer", "failed")

# before any attempt is measured, pace as if every line were answered by a
# person (level 1.0); this many attempts' worth of that belief
PRIOR_ATTEMPTS = 5
# the first outcomes known are the quick ones (a busy line in a fraction of a
# second, a person after a few seconds of ringing, a no-answer after the
# whole ring): measured over them alone the answer rate looks far lower than
# it is (on real calls the first busy signals took a 10-agent campaign to 45
# lines at once, 8 persons abandoned). Until this many outcomes are known,
# and more known than lines still out, predictive dials as progressive does
WARM_UP_ATTEMPTS = 10
# handle / answer times kept for their means and spreads
TIMES_KEPT = 200
# until measured: a line is answered (if at all) about this long after dialling
DEFAULT_TIME_TO_ANSWER_S = 10.0
# a person who answers gets an agent within this or is abandoned (the rules)
PATIENCE_S = 2.0
# the windows: this many buckets each; VICIdial's short ones
BUCKETS = 1440
FIVE_MIN_S, ONE_MIN_S = 300.0, 60.0
# the planner's allowance is this share of the cap: the all-at-once model
# under-counts abandonment (answers and agents freeing up do not line up in
# time), and every stop at the cap costs talk; swept from 0.1 to 1.0 in
# bench/dialer.py's simulation (5-20 agents, AMD on and off, 12 seeds), 0.25
# gave the most talk with the window under the cap most often
PLAN_SHARE = 0.25
# the window's budget (abandoned calls the cap still allows) is spent, or
# saved, over this many persons; the allowance is at most ALLOWANCE_MAX x cap
BUDGET_PERSONS, ALLOWANCE_MAX = 100.0, 2.0
# the cap rules apply once the window has this many persons (VICIdial: more
# than 50 calls in the day) and bite at this share of the cap, as lines
# already out may still be abandoned after the stop
RULES_MIN_PERSONS, HOLD_SHARE = 50, 0.85
# the allowance trim (VICIdial's intensity), its steps and bounds; it goes down
# on TRIM_DOWN_ABANDONED abandoned calls in five minutes, over the cap
TRIM_UP, TRIM_DOWN, TRIM_MIN, TRIM_MAX = 1.10, 0.80, 0.25, 2.0
TRIM_DOWN_ABANDONED = 2
# VICIdial's brake: > 20 attempts in the last minute, > 50 % of persons dropped
BRAKE_ATTEMPTS, BRAKE_SHARE = 20, 0.5
# soon-free agents: estimated once this many handle times are measured, for
# the earliest answers (this quantile of the measured times to answer)
SOON_MIN_HANDLES, SOON_QUANTILE = 20, 0.1
# the lines-out answer rate is measured over this span, from this many persons
LITTLE_SPAN_S, LITTLE_MIN_PERSONS = 300.0, 5


@dataclass(frozen=True)
class PacingSettings:
    """A campaign's pacing; checked when made (InvalidInput names the field)."""

    mode: Mode = "predictive"
    abandon_cap: float = 0.03  # share of calls answered by a person
    window_s: float = 86400.0  # the window the abandonment figure is measured over
    adapt: Adapt = "hard_limit"
    min_dial_level: float = 1.0
    max_dial_level: float = 3.0
    recompute_s: float = 15.0
    free_agents_target: float = 0.0  # agents to keep free on average (VICIdial: -dl_diff_target)
    shift_s: float = 8 * 3600.0  # for tapered: the shift's length from the first call
    sample_attempts: int = 200  # the answer rate is measured over the last N attempts

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise InvalidInput("mode", f"one of {', '.join(MODES)}")
        if self.adapt not in ADAPTS:
            raise InvalidInput("adapt", f"one of {', '.join(ADAPTS)}")
        if not 0.0 <= self.abandon_cap < 1.0:
            raise InvalidInput("abandon_cap", "a share from 0 to below 1 (0.03 is 3 %)")
        if not self.window_s > 0:
            raise InvalidInput("window_s", "a positive number of seconds")
        if not 1.0 <= self.min_dial_level <= self.max_dial_level:
            raise InvalidInput("min_dial_level", "at least 1.0 and at most max_dial_level")
        if self.max_dial_level > 10.0:
            raise InvalidInput("max_dial_level", "at most 10 lines per agent")
        if not self.recompute_s > 0:
            raise InvalidInput("recompute_s", "a positive number of seconds")
        if not 0.0 <= self.free_agents_target <= 50.0:
            raise InvalidInput("free_agents_target", "from 0 to 50 agents")
        if not self.shift_s > 0:
            raise InvalidInput("shift_s", "a positive number of seconds")
        if not 1 <= self.sample_attempts <= 100_000:
            raise InvalidInput("sample_attempts", "from 1 to 100000 attempts")


@dataclass(frozen=True)
class PacingSnapshot:
    """What the wallboard shows of a campaign's pacing, over the window."""

    mode: str
    adapt: str
    dial_level: float
    abandon_cap: float
    window_s: float
    attempts: int  # lines dialled (with a known outcome) in the window
    answered: int  # answered by a person (given an agent or abandoned)
    machines: int
    abandoned: int
    abandon_rate: float  # abandoned / answered, 0.0 with none answered
    answer_rate: float  # measured share of lines a person answers (recent sample)
    held: bool  # stopped adding lines at the cap (hard limit, or tapered after the shift)
    mean_handle_s: float | None
    mean_time_to_answer_s: float | None

    @property
    def abandon_pct(self) -> float:
        return round(self.abandon_rate * 100.0, 2)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["abandon_pct"] = self.abandon_pct
        return out


@dataclass
class _Bucket:
    index: int
    attempts: int = 0
    human: int = 0
    machine: int = 0
    abandoned: int = 0


@dataclass
class _Window:
    """Counts over the last ``span_s`` seconds in at most BUCKETS buckets."""

    span_s: float
    buckets: deque[_Bucket] = field(default_factory=deque)
    attempts: int = 0
    human: int = 0
    machine: int = 0
    abandoned: int = 0

    @property
    def width_s(self) -> float:
        return self.span_s / BUCKETS

    def add(self, now: float, result: str, abandoned: bool) -> None:
        index = math.floor(now / self.width_s)
        if not self.buckets or self.buckets[-1].index < index:
            self.buckets.append(_Bucket(index))
        # a late report (clock a little behind the last one) goes in the newest bucket
        bucket = self.buckets[-1]
        bucket.attempts += 1
        self.attempts += 1
        if result == "human":
            bucket.human += 1
            self.human += 1
        elif result == "machine":
            bucket.machine += 1
            self.machine += 1
        if abandoned:
            bucket.abandoned += 1
            self.abandoned += 1
        self.prune(now)

    def prune(self, now: float) -> None:
        first = math.floor((now - self.span_s) / self.width_s)
        while self.buckets and self.buckets[0].index < first:
            old = self.buckets.popleft()
            self.attempts -= old.attempts
            self.human -= old.human
            self.machine -= old.machine
            self.abandoned -= old.abandoned

    def rate(self, now: float) -> float:
        self.prune(now)
        return self.abandoned / self.human if self.human else 0.0


def _pmf(n: int, p: float) -> list[float]:
    """Binomial(n, p) probabilities, from logs (no overflow, no underflow to 0/0)."""
    if p <= 0.0:
        return [1.0] + [0.0] * n
    if p >= 1.0:
        return [0.0] * n + [1.0]
    lp, lq, lg = math.log(p), math.log1p(-p), math.lgamma(n + 1)
    return [math.exp(lg - math.lgamma(k + 1) - math.lgamma(n - k + 1) + k * lp + (n - k) * lq)
            for k in range(n + 1)]


# above this many lines the normal approximation replaces the exact sum
EXACT_LINES = 200


def overflow_share(parts: list[tuple[int, float]], agents: float) -> float:
    """E[max(0, H - agents)] / E[H], H the persons answering ``parts``: lines
    in groups of (count, chance a person answers each), all independent. The
    share of persons who would find no agent if they all answered at once."""
    mean = sum(n * p for n, p in parts)
    if mean <= 0.0:
        return 0.0
    if sum(n for n, _ in parts) > EXACT_LINES:
        var = sum(n * p * (1.0 - p) for n, p in parts)
        if var <= 0.0:
            return max(0.0, mean - agents) / mean
        sd = math.sqrt(var)
        z = (agents - mean) / sd
        excess = sd * math.exp(-z * z / 2) / math.sqrt(2 * math.pi) - (agents - mean) * (
            0.5 * math.erfc(z / math.sqrt(2)))
        return max(0.0, excess) / mean
    dist = [1.0]
    for n, p in parts:
        if n <= 0:
            continue
        part = _pmf(n, p)
        joined = [0.0] * (len(dist) + n)
        for i, a in enumerate(dist):
            if a:
                for j, b in enumerate(part):
                    joined[i + j] += a * b
        dist = joined
    excess = sum((h - agents) * q for h, q in enumerate(dist) if h > agents)
    return excess / mean


def _ending_within(times: list[float], elapsed: list[float], horizon: float) -> float:
    """Sum over ``elapsed`` of P(T <= e + horizon | T > e), T drawn from the
    sorted measured ``times``: the expected number ending within the horizon."""
    expected = 0.0
    for e in elapsed:
        first_longer = bisect.bisect_right(times, e)
        longer = len(times) - first_longer
        if longer:
            ending = bisect.bisect_right(times, e + horizon) - first_longer
            expected += max(0, ending) / longer
    return expected


class Pacer:
    """One campaign's pacing state (see the module docstring)."""

    def __init__(self, settings: PacingSettings) -> None:
        self.settings = settings
        self._window = _Window(settings.window_s)
        self._five = _Window(FIVE_MIN_S)
        self._one = _Window(ONE_MIN_S)
        self._sample: deque[bool] = deque(maxlen=settings.sample_attempts)
        self._handles: deque[float] = deque(maxlen=TIMES_KEPT)
        self._talks: deque[float] = deque(maxlen=TIMES_KEPT)
        self._wraps: deque[float] = deque(maxlen=TIMES_KEPT)
        self._answers: deque[float] = deque(maxlen=TIMES_KEPT)
        self._level = settings.min_dial_level
        # lines out per available agent, at most (cap rules), and as planned
        self._ceiling = settings.max_dial_level
        self._planned_sum = 0.0
        self._planned_n = 0
        self._held = False
        self._trim = 1.0
        self._allowance = 0.0
        self._started: float | None = None
        self._last_recompute: float | None = None
        # time-weighted available / free agents since the last re-computation
        self._last_sample: tuple[float, int, int, int] | None = None
        self._avail_area = 0.0
        self._free_area = 0.0
        self._area_s = 0.0
        # for the chance a line already out is answered by a person (Little's
        # law): persons answered and line-seconds out, per re-computation period
        self._line_area = 0.0
        self._period_persons = 0
        self._little: deque[tuple[int, float]] = deque(
            maxlen=max(1, math.ceil(LITTLE_SPAN_S / settings.recompute_s)))

    # -- what the dialer reports --------------------------------------------

    def record_attempt(self, now: float, result: str, *, abandoned: bool,
                       answered_after_s: float | None = None) -> None:
        """One line's outcome. ``abandoned``: a person answered and got no agent
        within 2 s (they heard the recorded message). ``answered_after_s``: how
        long the line rang before it was answered (any answer)."""
        if result not in RESULTS:
            raise InvalidInput("result", f"one of {', '.join(RESULTS)}")
        if abandoned and result != "human":
            raise InvalidInput("abandoned", "only a call a person answered can be abandoned")
        if answered_after_s is not None:
            if answered_after_s < 0:
                raise InvalidInput("answered_after_s", "seconds, not negative")
            self._answers.append(answered_after_s)
        self._start(now)
        for window in (self._window, self._five, self._one):
            window.add(now, result, abandoned)
        self._sample.append(result == "human")
        if result == "human":
            self._period_persons += 1

    def record_handle(self, talk_s: float, wrap_up_s: float) -> None:
        """An agent finished a call: its talk and wrap-up times."""
        if talk_s < 0 or wrap_up_s < 0:
            raise InvalidInput("talk_s" if talk_s < 0 else "wrap_up_s", "seconds, not negative")
        self._handles.append(talk_s + wrap_up_s)
        self._talks.append(talk_s)
        self._wraps.append(wrap_up_s)

    # -- what it measures ---------------------------------------------------

    @property
    def dial_level(self) -> float:
        """Lines per available agent, as last re-computed (1.0 in progressive)."""
        return 1.0 if self.settings.mode == "progressive" else self._level

    @property
    def held(self) -> bool:
        return self.settings.mode == "predictive" and self._held

    @property
    def answer_rate(self) -> float:
        """Measured share of lines a person answers, with the prior (all) at first."""
        return (sum(self._sample) + PRIOR_ATTEMPTS) / (len(self._sample) + PRIOR_ATTEMPTS)

    @property
    def answer_rate_in_progress(self) -> float:
        """The chance a line already out ends answered by a person: lower than a
        new line's (a line still ringing after 20 s is mostly a no-answer).
        By Little's law over the last LITTLE_SPAN_S: persons among the lines
        out on average = persons answered per second x their time to answer;
        over the lines out on average. The new line's rate until measured."""
        p = self.answer_rate
        persons = sum(n for n, _ in self._little)
        area = sum(a for _, a in self._little)
        tta = self.mean_time_to_answer_s
        if persons < LITTLE_MIN_PERSONS or area <= 0.0 or tta is None:
            return p
        return min(p, persons * tta / area)

    @property
    def mean_handle_s(self) -> float | None:
        return sum(self._handles) / len(self._handles) if self._handles else None

    @property
    def mean_time_to_answer_s(self) -> float | None:
        return sum(self._answers) / len(self._answers) if self._answers else None

    def abandon_rate(self, now: float) -> float:
        """Abandoned / answered by a person over the window (0.0 with none answered)."""
        return self._window.rate(now)

    def agents_soon_free(self, on_call_s: list[float],
                         wrap_up_s: list[float] | None = None) -> int:
        """How many busy agents should be free before the earliest answers to
        a line dialled now. ``on_call_s``: for each agent talking, how long so
        far; ``wrap_up_s``: for each agent in wrap-up, how long so far. For
        each, the share of the measured times (talks, then the mean wrap-up;
        wrap-ups) longer than that which end within the horizon (a low quantile
        of the measured times to answer, plus the 2 s a person may wait);
        their sum, rounded down. Longer than any measured: not soon free. None
        before SOON_MIN_HANDLES handle times are measured.

        Conditional, not "mean handle minus elapsed": with short calls (a
        machine handed to an agent) and long ones mixed, an agent 10 s into a
        call is almost surely on a long one. Earliest, not mean, answers: an
        agent expected free within the mean time to answer is often late for
        a quick answer, and that person is abandoned (measured in the bench).
        Wrap-up apart: it is usually a fixed timer, so an agent in it is known
        to the second."""
        if len(self._talks) < SOON_MIN_HANDLES or not (on_call_s or wrap_up_s):
            return 0
        # free before the earliest answers (a low quantile of the times to
        # answer), plus the 2 s a person may wait for an agent
        answers = sorted(self._answers)
        horizon = (answers[int(SOON_QUANTILE * (len(answers) - 1))] if answers
                   else DEFAULT_TIME_TO_ANSWER_S) + PATIENCE_S
        wraps = sorted(self._wraps)
        mean_wrap = sum(wraps) / len(wraps)
        expected = _ending_within(sorted(self._talks), on_call_s, horizon - mean_wrap)
        expected += _ending_within(wraps, wrap_up_s or [], horizon)
        return math.floor(expected + 1e-9)

    def snapshot(self, now: float) -> PacingSnapshot:
        w = self._window
        rate = w.rate(now)
        return PacingSnapshot(
            mode=self.settings.mode, adapt=self.settings.adapt,
            dial_level=round(self.dial_level, 3), abandon_cap=self.settings.abandon_cap,
            window_s=self.settings.window_s, attempts=w.attempts, answered=w.human,
            machines=w.machine, abandoned=w.abandoned, abandon_rate=rate,
            answer_rate=round(self.answer_rate, 4), held=self.held,
            mean_handle_s=self.mean_handle_s, mean_time_to_answer_s=self.mean_time_to_answer_s)

    # -- the decision -------------------------------------------------------

    def lines_to_dial(self, now: float, *, agents_free: int, agents_soon_free: int,
                      lines_in_progress: int) -> int:
        """How many new lines to start now. ``agents_free``: ready for a call;
        ``agents_soon_free``: busy, expected free within a ring (see
        :meth:`agents_soon_free`); ``lines_in_progress``: dialled and not yet
        with an agent nor ended (ringing, a person being connected)."""
        if min(agents_free, agents_soon_free, lines_in_progress) < 0:
            raise InvalidInput("agents_free", "counts are never negative")
        progressive = max(0, agents_free - lines_in_progress)
        if self.settings.mode == "progressive":
            return progressive
        self._start(now)
        self._sample_agents(now, agents_free, agents_soon_free, lines_in_progress)
        self._maybe_recompute(now)
        if self._held or not self.warmed_up(lines_in_progress):
            return progressive
        s = self.settings
        available = agents_free + agents_soon_free
        # never fewer than the minimum level on the free agents (1.0: progressive)
        floor = max(lines_in_progress, math.floor(s.min_dial_level * agents_free + 1e-9))
        ceiling = max(floor, math.floor(s.max_dial_level * available + 1e-9))
        # the lines out now and the new ones, against the agents there now: the
        # most whose persons beyond those agents stay within the allowance
        agents = available - s.free_agents_target
        p = self.answer_rate
        p_out = self.answer_rate_in_progress
        low, high = floor, ceiling
        while low < high:
            mid = (low + high + 1) // 2
            if agents > 0 and overflow_share(
                    [(lines_in_progress, p_out), (mid - lines_in_progress, p)],
                    agents) <= self._allowance:
                low = mid
            else:
                high = mid - 1
        if available:
            # what the planner wants, before any cut: the cap rules cut this
            self._planned_sum += low / available
            self._planned_n += 1
        cut = max(floor, math.floor(self._ceiling * available + 1e-9))
        return min(low, cut) - lines_in_progress

    def warmed_up(self, lines_in_progress: int) -> bool:
        """Enough outcomes known for the answer rate to be trusted (WARM_UP_ATTEMPTS)."""
        known = len(self._sample)
        return known >= WARM_UP_ATTEMPTS and known > lines_in_progress

    def recompute(self, now: float) -> float:
        """Re-compute the dial level now (the dialer need not: lines_to_dial
        does it every ``recompute_s``). Returns the new level."""
        s = self.settings
        _, idle = self._take_agent_means()
        if self._planned_n:
            planned = self._planned_sum / self._planned_n
            self._planned_sum, self._planned_n = 0.0, 0
        else:
            planned = self._level
        rate = self._window.rate(now)
        # VICIdial applies its drop rules after 50 calls in the day: here after
        # enough persons for the figure to mean something
        over = (self._window.abandoned > 0 and rate >= s.abandon_cap * HOLD_SHARE
                and self._window.human >= RULES_MIN_PERSONS)
        started = now if self._started is None else self._started
        shift_left = max(0.0, 1.0 - (now - started) / s.shift_s)

        if s.adapt == "tapered":
            allowance = 2.0 * s.abandon_cap * shift_left
        else:
            # held back by what the window can still take: the abandoned calls
            # the cap allows on the persons answered so far, less those used
            # and a reserve; spent (or saved) over the next persons
            budget = s.abandon_cap * self._window.human - self._window.abandoned
            allowance = s.abandon_cap + budget / BUDGET_PERSONS
            allowance = min(ALLOWANCE_MAX * s.abandon_cap, max(0.0, allowance))
            if s.adapt == "average":
                allowance = max(allowance, max(0.0, 2.0 * s.abandon_cap - rate) * 0.5)
        allowance *= PLAN_SHARE

        # the trim: VICIdial's agents-waiting differential and intensity
        self._five.prune(now)
        five_rate = self._five.rate(now)
        if self._five.abandoned >= TRIM_DOWN_ABANDONED and five_rate > s.abandon_cap:
            self._trim = max(TRIM_MIN, self._trim * TRIM_DOWN)
        elif idle > s.free_agents_target + 0.5 and self._five.abandoned == 0:
            self._trim = min(TRIM_MAX, self._trim * TRIM_UP)

        self._allowance = allowance * self._trim

        # the cap rules cut the level the planner wanted in the last period
        level, cut = planned, False
        self._one.prune(now)
        if (self._one.attempts > BRAKE_ATTEMPTS and self._one.human
                and self._one.abandoned / self._one.human > BRAKE_SHARE):
            level, cut = level / 2.0, True
        held = False
        if over:
            if s.adapt == "hard_limit" or (s.adapt == "tapered" and shift_left <= 0.0):
                level, held = s.min_dial_level, True
            elif s.adapt == "tapered":
                level, cut = level * shift_left, True
            else:
                level, cut = level / 2.0, True
        self._level = min(s.max_dial_level, max(s.min_dial_level, level))
        self._ceiling = self._level if cut or held else s.max_dial_level
        self._held = held
        self._last_recompute = now
        return self._level

    # -- inside -------------------------------------------------------------

    def _start(self, now: float) -> None:
        if self._started is None:
            self._started = now

    def _sample_agents(self, now: float, free: int, soon: int, lines: int) -> None:
        if self._last_sample is not None:
            t, last_free, last_soon, last_lines = self._last_sample
            dt = max(0.0, now - t)
            self._avail_area += (last_free + last_soon) * dt
            self._free_area += last_free * dt
            self._line_area += last_lines * dt
            self._area_s += dt
        self._last_sample = (now, free, soon, lines)

    def _take_agent_means(self) -> tuple[float, float]:
        """Available and idle agents, time-averaged since the last re-computation."""
        if self._area_s > 0:
            means = (self._avail_area / self._area_s, self._free_area / self._area_s)
        elif self._last_sample is not None:
            means = (float(self._last_sample[1] + self._last_sample[2]),
                     float(self._last_sample[1]))
        else:
            means = (0.0, 0.0)
        self._avail_area = self._free_area = self._area_s = 0.0
        self._little.append((self._period_persons, self._line_area))
        self._period_persons, self._line_area = 0, 0.0
        return means

    def _maybe_recompute(self, now: float) -> None:
        if self._last_recompute is None or now - self._last_recompute >= self.settings.recompute_s:
            self.recompute(now)
