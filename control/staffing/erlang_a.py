"""Erlang A (Palm's M/M/N+M queue): staffing with callers who give up.

Erlang C assumes every caller waits as long as it takes; real callers hang
up, which shortens the queue for those behind them, so Erlang C over-staffs
an overloaded hour and cannot describe it at all past 100 % load. Erlang A
(Garnett, Mandelbaum & Reiman 2002; Mandelbaum & Zeltyn, "The Palm/Erlang-A
queue") adds exponential patience with mean ``1/theta``. No maintained
package implements it, so it is here, small and pure:

- the number of callers in the system is a birth-death chain: births at the
  arrival rate ``lam``; deaths at ``min(n, N) mu + max(n - N, 0) theta``.
  Its stationary law ``pi`` is computed by the product formula, truncated
  where the terms are negligible (the chain is always stable: abandonment
  bounds the queue even when ``lam > N mu``);
- P(wait) = P(n >= N) for an arriving caller (Poisson arrivals see time
  averages); E[Q] from ``pi``; P(abandon) = theta E[Q] / lam (abandonments
  are theta per waiting caller, against lam arrivals); mean wait of all
  callers = E[Q] / lam (Little);
- service level = P(answered within t) with abandoned callers counted as
  not answered (the same rule as the project's own figures): a caller who
  finds ``j`` waiting ahead reaches an agent after ``j + 1`` departures from
  the line, each at rate ``N mu + k theta`` with ``k`` still ahead, and
  gives up at rate theta meanwhile. That small absorbing chain is solved by
  uniformization (a Poisson mixture of a discrete chain: sums of positive
  terms, numerically stable for long lines where the closed form's
  alternating sums are not).

Times are in any one unit (seconds here). Bad arguments raise ValueError.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

TAIL = 1e-13  # stationary terms below this share of the total are dropped
MAX_STATES = 20_000  # a line this long is not a contact center's: cut there (the rest of
# the mass is dropped; it matters only for staffing far below the load, refused anyway)
MAX_UNIFORM_RATE_T = 4_000.0  # past this (hours of target time) use the t -> infinity limit


@dataclass(frozen=True)
class ErlangAResult:
    agents: int
    p_wait: float  # an arriving caller finds every agent busy
    p_abandon: float  # share of callers who hang up before an agent answers
    service_level: float  # share answered within the target time
    mean_wait: float  # mean time in queue of all callers (answered or not)
    occupancy: float  # share of the agents' time on calls


def _stationary(lam: float, mu: float, theta: float, agents: int) -> list[float]:
    """pi_n for n = 0, 1, ... (normalised), truncated at a negligible tail."""
    terms = [1.0]
    total = 1.0
    n = 0
    while n < MAX_STATES:
        n += 1
        death = min(n, agents) * mu + max(n - agents, 0) * theta
        nxt = terms[-1] * lam / death
        terms.append(nxt)
        total += nxt
        # past the mode and negligible: the rest decays at least geometrically
        if n > agents and nxt < TAIL * total and death > lam:
            break
        if total > 1e250:  # rescale to stay in floating range
            terms = [x / total for x in terms]
            total = 1.0
    return [x / total for x in terms]


def _served_within(ahead: list[float], agents: int, mu: float, theta: float,
                   t: float) -> float:
    """P(reach an agent within t) summed over the line a caller may find:
    ``ahead[j]`` is the probability of arriving with ``j`` callers ahead (all
    agents busy). Uniformization of the tagged caller's chain."""
    top = len(ahead) - 1
    rates = [agents * mu + j * theta for j in range(top + 1)]  # leave "j ahead"
    uniform = rates[-1] + theta  # the fastest state's total outflow
    ut = uniform * t
    if ut > MAX_UNIFORM_RATE_T:
        # t is long against every rate: whoever is served is served within t
        return _served_eventually(ahead, rates, theta)
    steps = int(ut + 12 * math.sqrt(ut) + 30)
    p = list(ahead)
    served_by_step = [0.0]  # absorbed in "served" after k steps
    served = 0.0
    for _ in range(steps):
        served += p[0] * rates[0] / uniform
        served_by_step.append(served)
        nxt = [0.0] * len(p)
        for j in range(len(p)):
            stay = 1.0 - (rates[j] + theta) / uniform
            nxt[j] = p[j] * stay + (p[j + 1] * rates[j + 1] / uniform if j < top else 0.0)
        p = nxt
    # P(served by t) = sum_k Poisson(k; ut) * served_by_step[k]
    total = 0.0
    log_weight = -ut  # log Poisson(0; ut)
    for k, value in enumerate(served_by_step):
        if k:
            log_weight += math.log(ut) - math.log(k)
        total += math.exp(log_weight) * value
    # the Poisson tail past `steps` has every step's value at most served_by_step[-1]
    return total


def _served_eventually(ahead: list[float], rates: list[float], theta: float) -> float:
    total = 0.0
    for j, weight in enumerate(ahead):
        reach = 1.0
        for k in range(j + 1):
            reach *= rates[k] / (rates[k] + theta)
        total += weight * reach
    return total


def evaluate(lam: float, aht: float, patience: float, agents: int,
             target_s: float) -> ErlangAResult:
    """Erlang A figures for ``agents`` at ``lam`` calls per second, mean
    handle time ``aht`` s, mean patience ``patience`` s, target ``target_s``."""
    if lam <= 0 or aht <= 0 or patience <= 0:
        raise ValueError("arrival rate, handle time and patience must be positive")
    if agents < 1:
        raise ValueError("at least one agent")
    if target_s < 0:
        raise ValueError("the target time cannot be negative")
    mu, theta = 1.0 / aht, 1.0 / patience
    pi = _stationary(lam, mu, theta, agents)
    busy = sum(pi[agents:])
    queue_mean = sum((n - agents) * p for n, p in enumerate(pi) if n > agents)
    p_abandon = min(1.0, theta * queue_mean / lam)
    free = sum(pi[:agents])
    served = _served_within(pi[agents:], agents, mu, theta, target_s)
    return ErlangAResult(
        agents=agents, p_wait=busy, p_abandon=p_abandon,
        service_level=min(1.0, free + served), mean_wait=queue_mean / lam,
        occupancy=min(1.0, lam * (1.0 - p_abandon) * aht / agents))


def required_agents(lam: float, aht: float, patience: float, target_s: float,
                    service_level: float, max_occupancy: float = 1.0,
                    shrinkage: float = 0.0) -> tuple[int, int, ErlangAResult]:
    """The fewest agents on the phones for ``service_level`` within
    ``target_s`` and at most ``max_occupancy`` (as pyworkforce's Erlang C
    does), then the agents to schedule after ``shrinkage`` (breaks,
    training, absence). Returns (on the phones, scheduled, their figures)."""
    if not 0 < service_level <= 1:
        raise ValueError("service level must be in (0, 1]")
    if not 0 < max_occupancy <= 1:
        raise ValueError("max occupancy must be in (0, 1]")
    if not 0 <= shrinkage < 1:
        raise ValueError("shrinkage must be in [0, 1)")
    # answered calls are at most N mu per second, so a service level above N / A
    # (A = lam * aht, the offered load) cannot be: start there
    low = max(1, math.ceil(service_level * lam * aht - 1e-9))

    def meets(agents: int) -> ErlangAResult | None:
        found = evaluate(lam, aht, patience, agents, target_s)
        ok = found.service_level >= service_level and found.occupancy <= max_occupancy
        return found if ok else None

    # the service level rises and the occupancy falls with every agent added:
    # double until the target is met, then halve the gap (a dozen evaluations
    # rather than one per agent for a large queue)
    high = low
    while meets(high) is None:
        low = high + 1
        high *= 2
        if high > MAX_STATES:
            raise ValueError("no staffing reaches that service level")
    while low < high:
        middle = (low + high) // 2
        if meets(middle) is None:
            low = middle + 1
        else:
            high = middle
    found = meets(high)
    assert found is not None
    return high, math.ceil(high / (1 - shrinkage)), found
