"""Unit tests of the outbound pacer (control/campaigns/pacing.py): pure logic,
clock passed in, no stack. The end-to-end figures (talk minutes, abandonment)
are bench/dialer.py's, smoke-tested in test_bench.py."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from control.campaigns.pacing import (
    HOLD_SHARE,
    RULES_MIN_PERSONS,
    WARM_UP_ATTEMPTS,
    Pacer,
    PacingSettings,
    overflow_share,
)
from control.errors import InvalidInput


def feed(pacer: Pacer, now: float, *, attempts: int, human_share: float,
         abandoned: int = 0, step: float = 0.1) -> float:
    """Report ``attempts`` outcomes from ``now`` on, every ``step`` s, a share of
    them persons (the first ``abandoned`` persons abandoned). Returns the clock."""
    persons = 0
    for i in range(attempts):
        # persons spread evenly through the attempts
        person = math.floor((i + 1) * human_share + 1e-9) > math.floor(i * human_share + 1e-9)
        pacer.record_attempt(now, "human" if person else "no_answer",
                             abandoned=person and persons < abandoned,
                             answered_after_s=8.0 if person else None)
        persons += person
        now += step
    return now


def idle_run(pacer: Pacer, now: float, seconds: float, *, free: int = 10,
             soon: int = 0, lines: int = 0) -> float:
    """The dialer asking every second for ``seconds`` with the same counts."""
    end = now + seconds
    while now < end:
        pacer.lines_to_dial(now, agents_free=free, agents_soon_free=soon,
                            lines_in_progress=lines)
        now += 1.0
    return now


# -- settings and inputs -------------------------------------------------------

@pytest.mark.parametrize(("field", "value"), [
    ("mode", "preview"), ("adapt", "fast"), ("abandon_cap", 1.5), ("abandon_cap", -0.1),
    ("window_s", 0), ("min_dial_level", 0.5), ("max_dial_level", 20.0),
    ("recompute_s", 0), ("free_agents_target", -1), ("shift_s", 0), ("sample_attempts", 0),
])
def test_settings_out_of_range_name_the_field(field: str, value: object) -> None:
    with pytest.raises(InvalidInput) as err:
        PacingSettings(**{field: value})  # type: ignore[arg-type]
    assert err.value.field == field


def test_min_above_max_is_refused() -> None:
    with pytest.raises(InvalidInput) as err:
        PacingSettings(min_dial_level=2.5, max_dial_level=2.0)
    assert err.value.field == "min_dial_level"


def test_bad_reports_are_refused_and_change_nothing() -> None:
    pacer = Pacer(PacingSettings())
    with pytest.raises(InvalidInput) as err:
        pacer.record_attempt(0.0, "voicemail", abandoned=False)
    assert err.value.field == "result"
    with pytest.raises(InvalidInput) as err:
        pacer.record_attempt(0.0, "busy", abandoned=True)
    assert err.value.field == "abandoned"
    with pytest.raises(InvalidInput) as err:
        pacer.record_attempt(0.0, "human", abandoned=False, answered_after_s=-1.0)
    assert err.value.field == "answered_after_s"
    with pytest.raises(InvalidInput):
        pacer.record_handle(-1.0, 5.0)
    with pytest.raises(InvalidInput):
        pacer.lines_to_dial(0.0, agents_free=-1, agents_soon_free=0, lines_in_progress=0)
    snap = pacer.snapshot(0.0)
    assert (snap.attempts, snap.answered, snap.abandoned) == (0, 0, 0)
    assert pacer.mean_handle_s is None and pacer.mean_time_to_answer_s is None


# -- progressive ---------------------------------------------------------------

@settings(max_examples=150, deadline=None)
@given(free=st.integers(0, 60), soon=st.integers(0, 60), lines=st.integers(0, 200),
       share=st.floats(0.01, 1.0))
def test_progressive_never_more_lines_than_free_agents(free: int, soon: int, lines: int,
                                                       share: float) -> None:
    pacer = Pacer(PacingSettings(mode="progressive"))
    now = feed(pacer, 0.0, attempts=50, human_share=share)
    n = pacer.lines_to_dial(now, agents_free=free, agents_soon_free=soon,
                            lines_in_progress=lines)
    assert n == max(0, free - lines)
    assert lines + n <= max(free, lines)
    assert pacer.dial_level == 1.0


def test_progressive_dialer_loop_never_has_more_lines_out_than_free_agents() -> None:
    """A little dialer: lines ring a few seconds, a third reach an agent for
    20 s; at no moment are more lines out than agents free."""
    rng = random.Random(7)
    pacer = Pacer(PacingSettings(mode="progressive"))
    agents_busy_until = [0.0] * 5
    lines: list[float] = []  # when each line out resolves
    for tick in range(600):
        now = float(tick)
        for end in [e for e in lines if e <= now]:
            lines.remove(end)
            if rng.random() < 0.33:
                i = min(range(5), key=lambda k: agents_busy_until[k])
                assert agents_busy_until[i] <= now, "a person found no agent"
                agents_busy_until[i] = now + 20.0
                pacer.record_attempt(now, "human", abandoned=False, answered_after_s=3.0)
            else:
                pacer.record_attempt(now, "no_answer", abandoned=False)
        free = sum(1 for t in agents_busy_until if t <= now)
        n = pacer.lines_to_dial(now, agents_free=free, agents_soon_free=2,
                                lines_in_progress=len(lines))
        lines += [now + rng.uniform(1.0, 6.0) for _ in range(n)]
        assert len(lines) <= max(free, len(lines) - n)


# -- predictive: the level follows the answer rate and the agents ---------------

def level_after(share: float, *, free: int = 10, seconds: float = 60.0) -> float:
    pacer = Pacer(PacingSettings())
    now = feed(pacer, 0.0, attempts=200, human_share=share)
    idle_run(pacer, now, seconds, free=free)
    return pacer.dial_level


def test_level_starts_at_one_before_anything_is_measured() -> None:
    pacer = Pacer(PacingSettings())
    assert pacer.dial_level == 1.0
    # with nothing measured the pacer assumes every line is a person: one each
    assert pacer.lines_to_dial(0.0, agents_free=4, agents_soon_free=0,
                               lines_in_progress=0) == 4


def test_the_first_quick_outcomes_do_not_pass_for_the_answer_rate() -> None:
    """Busy lines are known first: until WARM_UP_ATTEMPTS outcomes are in (and
    more than the lines out), predictive dials one line per free agent."""
    pacer = Pacer(PacingSettings())
    for i in range(WARM_UP_ATTEMPTS - 1):
        pacer.record_attempt(i * 0.01, "busy", abandoned=False)
    assert pacer.answer_rate < 0.5  # what the quick outcomes alone say
    assert pacer.lines_to_dial(1.0, agents_free=10, agents_soon_free=0,
                               lines_in_progress=0) == 10
    pacer.record_attempt(1.0, "busy", abandoned=False)
    # as many known as lines out: still not trusted
    assert pacer.lines_to_dial(1.1, agents_free=10, agents_soon_free=0,
                               lines_in_progress=WARM_UP_ATTEMPTS) == 0
    assert pacer.lines_to_dial(1.2, agents_free=10, agents_soon_free=0,
                               lines_in_progress=0) > 10


def test_level_rises_when_answer_rate_is_low_and_agents_idle() -> None:
    high, mid, low = level_after(0.6), level_after(0.3), level_after(0.1)
    assert 1.0 <= high < mid < low <= 3.0
    # a low answer rate with 10 idle agents goes well past one line each
    assert low >= 2.5
    pacer = Pacer(PacingSettings())
    now = feed(pacer, 0.0, attempts=200, human_share=0.3)
    before = pacer.lines_to_dial(now, agents_free=10, agents_soon_free=0, lines_in_progress=0)
    assert before > 10


def test_level_rises_while_agents_stay_idle_without_abandonment() -> None:
    pacer = Pacer(PacingSettings())
    now = feed(pacer, 0.0, attempts=200, human_share=0.3)
    now = idle_run(pacer, now, 20.0)
    first = pacer.dial_level
    idle_run(pacer, now, 120.0)
    assert pacer.dial_level > first


def test_small_team_gets_a_lower_level_than_a_big_one() -> None:
    assert level_after(0.3, free=2) < level_after(0.3, free=40)


def test_soon_free_agents_count_toward_lines() -> None:
    pacer = Pacer(PacingSettings())
    now = feed(pacer, 0.0, attempts=200, human_share=0.3)
    now = idle_run(pacer, now, 30.0, free=5, soon=5)
    alone = pacer.lines_to_dial(now, agents_free=5, agents_soon_free=0, lines_in_progress=0)
    with_soon = pacer.lines_to_dial(now, agents_free=5, agents_soon_free=5, lines_in_progress=0)
    assert with_soon > alone >= 5


def test_lines_out_are_counted_against_the_agents() -> None:
    pacer = Pacer(PacingSettings())
    now = feed(pacer, 0.0, attempts=200, human_share=0.3)
    now = idle_run(pacer, now, 30.0)
    empty = pacer.lines_to_dial(now, agents_free=10, agents_soon_free=0, lines_in_progress=0)
    busy = pacer.lines_to_dial(now, agents_free=10, agents_soon_free=0, lines_in_progress=15)
    full = pacer.lines_to_dial(now, agents_free=10, agents_soon_free=0, lines_in_progress=40)
    assert empty > busy and full == 0


def test_free_agents_target_keeps_agents_free() -> None:
    def lines(target: float) -> int:
        pacer = Pacer(PacingSettings(free_agents_target=target))
        now = feed(pacer, 0.0, attempts=200, human_share=0.3)
        now = idle_run(pacer, now, 30.0)
        return pacer.lines_to_dial(now, agents_free=10, agents_soon_free=0, lines_in_progress=0)
    assert lines(2.0) < lines(0.0)


def test_level_recomputed_every_recompute_s_only() -> None:
    pacer = Pacer(PacingSettings(recompute_s=15.0))
    pacer.lines_to_dial(0.0, agents_free=10, agents_soon_free=0, lines_in_progress=0)
    assert pacer.dial_level == 1.0
    feed(pacer, 0.0, attempts=200, human_share=0.2, step=0.01)
    pacer.lines_to_dial(10.0, agents_free=10, agents_soon_free=0, lines_in_progress=0)
    assert pacer.dial_level == 1.0  # not yet: 10 s since the last re-computation
    pacer.lines_to_dial(15.0, agents_free=10, agents_soon_free=0, lines_in_progress=0)
    assert pacer.dial_level > 1.0


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 10_000), adapt=st.sampled_from(["hard_limit", "tapered", "average"]),
       min_level=st.floats(1.0, 2.0), span=st.floats(0.0, 2.0))
def test_level_and_lines_stay_within_min_and_max(seed: int, adapt: str, min_level: float,
                                                 span: float) -> None:
    s = PacingSettings(adapt=adapt, min_dial_level=min_level,  # type: ignore[arg-type]
                       max_dial_level=min_level + span, shift_s=600.0, recompute_s=5.0)
    pacer = Pacer(s)
    rng = random.Random(seed)
    now = 0.0
    for _ in range(120):
        for _ in range(rng.randint(0, 6)):
            result = rng.choice(["human", "machine", "busy", "no_answer", "failed"])
            pacer.record_attempt(now, result, abandoned=result == "human" and rng.random() < 0.2,
                                 answered_after_s=rng.uniform(2, 20)
                                 if result in ("human", "machine") else None)
        if rng.random() < 0.3:
            pacer.record_handle(rng.uniform(10, 120), rng.uniform(0, 20))
        free, soon, out = rng.randint(0, 12), rng.randint(0, 6), rng.randint(0, 30)
        n = pacer.lines_to_dial(now, agents_free=free, agents_soon_free=soon,
                                lines_in_progress=out)
        assert s.min_dial_level <= pacer.dial_level <= s.max_dial_level
        assert n >= 0
        assert n >= free - out  # never fewer than progressive would dial
        if n > max(0, free - out):
            assert out + n <= math.floor(s.max_dial_level * (free + soon) + 1e-9)
        now += rng.uniform(0.2, 8.0)


# -- the cap, per adapt method --------------------------------------------------

def over_cap(adapt: str, **kw: float) -> tuple[Pacer, float]:
    """Persons answered with 5 % abandoned (cap 3 %), agents idle."""
    pacer = Pacer(PacingSettings(adapt=adapt, **kw))  # type: ignore[arg-type]
    now = feed(pacer, 0.0, attempts=400, human_share=0.3, abandoned=6)
    assert pacer.abandon_rate(now) == pytest.approx(6 / 120)
    return pacer, now


def test_hard_limit_stops_adding_lines_at_the_cap() -> None:
    pacer, now = over_cap("hard_limit")
    now = idle_run(pacer, now, 30.0, free=10, soon=5)
    assert pacer.dial_level == 1.0 and pacer.held and pacer.snapshot(now).held
    # only free agents, less the lines out: as progressive
    assert pacer.lines_to_dial(now, agents_free=10, agents_soon_free=5, lines_in_progress=3) == 7
    assert pacer.lines_to_dial(now, agents_free=2, agents_soon_free=5, lines_in_progress=3) == 0
    # once the figure is back under the cap it paces again
    now = feed(pacer, now, attempts=400, human_share=0.5)
    assert pacer.abandon_rate(now) < 0.03
    idle_run(pacer, now, 30.0)
    assert not pacer.held and pacer.dial_level > 1.0


def test_hard_limit_bites_once_the_figure_means_something() -> None:
    """The stop applies from RULES_MIN_PERSONS persons in the window (VICIdial:
    50 calls in the day), a little under the cap (HOLD_SHARE): lines already
    out may still be abandoned after it."""
    def held(persons: int, abandoned: int) -> bool:
        pacer = Pacer(PacingSettings(abandon_cap=0.05))
        now = feed(pacer, 0.0, attempts=persons * 5, human_share=0.2, abandoned=abandoned)
        assert pacer.snapshot(now).answered == persons
        idle_run(pacer, now, 20.0)
        return pacer.held

    assert RULES_MIN_PERSONS == 50 and 0.8 <= HOLD_SHARE <= 1.0
    assert not held(20, 1)  # 5 %, but only 20 persons: too few to judge
    assert held(60, 3)  # 5 %: at the cap
    assert not held(60, 2)  # 3.3 %: under 0.85 x 5 %


def test_average_halves_the_level_over_the_cap_but_never_stops() -> None:
    pacer, now = over_cap("average")
    idle_run(pacer, now, 30.0, free=10, soon=5)
    assert not pacer.held
    under = Pacer(PacingSettings(adapt="average"))
    now2 = feed(under, 0.0, attempts=400, human_share=0.3)
    idle_run(under, now2, 30.0, free=10, soon=5)
    assert pacer.dial_level <= max(1.0, under.dial_level / 2 + 1e-9)
    # soon-free agents still count: more than progressive would dial
    assert pacer.lines_to_dial(now + 31, agents_free=10, agents_soon_free=5,
                               lines_in_progress=0) > 10


def test_tapered_runs_over_early_and_gets_stricter_toward_the_shift_end() -> None:
    shift = 3600.0

    def level_at(elapsed: float, abandoned: int, seconds: float) -> Pacer:
        pacer = Pacer(PacingSettings(adapt="tapered", shift_s=shift))
        pacer.lines_to_dial(0.0, agents_free=10, agents_soon_free=0, lines_in_progress=0)
        now = feed(pacer, elapsed, attempts=400, human_share=0.3, abandoned=abandoned)
        idle_run(pacer, now, seconds)
        return pacer

    # under the cap: early in the shift it may risk more than late
    early, late = level_at(60.0, 0, 40.0), level_at(shift * 0.9, 0, 40.0)
    assert early.dial_level > late.dial_level > 1.0
    # over the cap: not stopped while shift is left; the level is cut by the
    # share of the shift left (at each re-computation, as VICIdial does)
    early_over, late_over = level_at(60.0, 6, 16.0), level_at(shift * 0.8, 6, 16.0)
    assert not early_over.held and not late_over.held
    assert late_over.dial_level < early_over.dial_level
    assert early_over.dial_level > 1.0
    # after the shift, over the cap: stopped like hard limit
    after = level_at(shift + 60.0, 6, 40.0)
    assert after.held and after.dial_level == 1.0


def test_five_minutes_of_abandonment_pull_the_level_down() -> None:
    pacer = Pacer(PacingSettings(window_s=30 * 86400))
    # a long clean history: far under the cap over the window
    now = feed(pacer, 0.0, attempts=3000, human_share=0.3, step=1.0)
    now = idle_run(pacer, now, 60.0)
    before = pacer.dial_level
    # then a bad five minutes: 4 of 20 persons abandoned (window still < 3 %)
    now = feed(pacer, now, attempts=60, human_share=1 / 3, abandoned=4, step=2.0)
    assert pacer.abandon_rate(now) < 0.03
    idle_run(pacer, now, 60.0)
    assert pacer.dial_level < before and not pacer.held


# -- the window -----------------------------------------------------------------

def test_abandon_rate_is_abandoned_over_persons_answered_in_the_window() -> None:
    pacer = Pacer(PacingSettings(window_s=3600.0))
    assert pacer.abandon_rate(0.0) == 0.0
    for i in range(10):
        pacer.record_attempt(float(i), "human", abandoned=i < 2, answered_after_s=5.0)
    for i in range(10):
        pacer.record_attempt(10.0 + i, "machine", abandoned=False, answered_after_s=5.0)
        pacer.record_attempt(10.0 + i, "busy", abandoned=False)
    assert pacer.abandon_rate(30.0) == pytest.approx(0.2)
    snap = pacer.snapshot(30.0)
    assert (snap.attempts, snap.answered, snap.machines, snap.abandoned) == (30, 10, 10, 2)
    d = snap.as_dict()
    assert d["abandon_pct"] == 20.0 and d["window_s"] == 3600.0
    assert d["answer_rate"] == pytest.approx((10 + 5) / (30 + 5), abs=1e-4)
    # an hour later the first persons (and their abandonment) have left the window
    for i in range(10):
        pacer.record_attempt(3605.0 + i, "human", abandoned=False, answered_after_s=5.0)
    assert pacer.abandon_rate(3615.0) == 0.0
    assert pacer.snapshot(3615.0).answered == 10
    assert pacer.snapshot(3615.0 + 3600.0 * 2).attempts == 0


def test_thirty_day_window_keeps_bounded_memory() -> None:
    pacer = Pacer(PacingSettings(window_s=30 * 86400.0))
    for i in range(20_000):
        pacer.record_attempt(i * 300.0, "human", abandoned=i % 50 == 0, answered_after_s=5.0)
    now = 20_000 * 300.0
    # 30 days of one person per 5 min: 8640 persons, 1 in 50 abandoned
    snap = pacer.snapshot(now)
    assert 8600 <= snap.answered <= 8650
    assert snap.abandon_rate == pytest.approx(0.02, abs=0.002)
    assert len(pacer._window.buckets) <= 1441


# -- agents about to be free ------------------------------------------------------

def test_soon_free_from_measured_talk_and_wrap_up_times() -> None:
    pacer = Pacer(PacingSettings())
    assert pacer.agents_soon_free([50.0, 60.0], [5.0]) == 0  # nothing measured yet
    for _ in range(20):
        pacer.record_handle(60.0, 10.0)  # a person: 60 s talk, 10 s wrap-up
        pacer.record_handle(5.0, 10.0)  # a machine handed to an agent: 5 s
    for _ in range(10):  # answers after 6 s: the horizon is 6 + 2 s
        pacer.record_attempt(0.0, "human", abandoned=False, answered_after_s=6.0)
    # talking 10 s means a 60 s talk: 50 s left, then 10 s of wrap-up
    assert pacer.agents_soon_free([10.0]) == 0
    # talking 59 s: 1 s of talk and 10 s of wrap-up left, > 8 s: not yet
    assert pacer.agents_soon_free([59.0]) == 0
    # in wrap-up for 3 s of 10: 7 s left, within 8 s; for 1 s: 9 s left, not
    assert pacer.agents_soon_free([], [3.0]) == 1
    assert pacer.agents_soon_free([10.0, 59.0], [1.0, 3.0, 5.0]) == 2
    assert pacer.agents_soon_free([500.0], [50.0]) == 0  # longer than any measured
    # a talk shorter than the horizon less the wrap-up: soon free while talking
    short = Pacer(PacingSettings())
    for _ in range(20):
        short.record_handle(4.0, 1.0)
    short.record_attempt(0.0, "human", abandoned=False, answered_after_s=10.0)
    assert short.agents_soon_free([1.0, 2.0]) == 2


def test_overflow_share_matches_the_binomial() -> None:
    # 3 lines at p = 0.5, 1 agent: H=2 (3/8) overflows 1, H=3 (1/8) overflows 2
    assert overflow_share([(3, 0.5)], 1) == pytest.approx((3 / 8 + 2 / 8) / 1.5)
    assert overflow_share([(10, 0.3)], 10) == 0.0
    assert overflow_share([(0, 0.3)], 1) == 0.0
    # two groups of lines: same as one when the rates match
    assert overflow_share([(5, 0.3), (7, 0.3)], 3) == pytest.approx(
        overflow_share([(12, 0.3)], 3))
    # the normal approximation for many lines is close to the exact sum
    exact = overflow_share([(150, 0.3), (50, 0.3)], 55)
    approx = overflow_share([(150, 0.3), (51, 0.3)], 55)
    assert approx == pytest.approx(exact, rel=0.35)
