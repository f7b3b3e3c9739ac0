"""After the call: talk, silence and overtalk ratios, an extractive summary and
a sentiment trend per leg, from the stored final segments alone (offline,
nothing sent anywhere).

- Ratios: each leg's speaking time is the union of its segments' spans;
  overtalk is where both legs speak at once; silence is the rest of the
  span from the first word to the last.
- Summary: the utterances whose words are the call's most frequent ones
  (classic frequency-based extractive summarising), up to three, in the
  order they were said.
- Sentiment: a small Spanish polarity lexicon (the KB's and the production
  model's language), one score per segment in -1..1, averaged per third of
  the call for each leg: the trend. A lexicon is crude; it is offline and
  explainable, and the method is one function to replace.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

WORD_RE = re.compile(r"\w+", re.UNICODE)
POSITIVE = frozenset(
    "gracias perfecto genial bien bueno buena excelente estupendo vale encantado encantada "
    "resuelto solucionado amable contento contenta satisfecho satisfecha fenomenal claro".split())
NEGATIVE = frozenset(
    "mal malo mala problema queja reclamación reclamacion cancelar baja abogado denuncia "
    "enfadado enfadada harto harta nunca terrible fatal error retraso caro carísimo "
    "inaceptable vergüenza desastre".split())
SUMMARY_SENTENCES = 3
SHORT = frozenset("el la los las de del y a en que un una es por con no se lo le me mi su "
                  "al para".split())


def _union(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def _length(spans: list[tuple[float, float]]) -> float:
    return sum(e - s for s, e in spans)


def _overlap(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> float:
    total = 0.0
    for s1, e1 in a:
        for s2, e2 in b:
            total += max(0.0, min(e1, e2) - max(s1, s2))
    return total


def ratios(segments: list[dict[str, Any]]) -> dict[str, float]:
    if not segments:
        return {"caller_talk": 0.0, "agent_talk": 0.0, "overtalk": 0.0, "silence": 0.0}
    legs = {who: _union([(s["start"], s["end"]) for s in segments if s["speaker"] == who])
            for who in ("caller", "agent")}
    first = min(s["start"] for s in segments)
    last = max(s["end"] for s in segments)
    span = max(last - first, 1e-6)
    both = _union(legs["caller"] + legs["agent"])
    return {"caller_talk": round(_length(legs["caller"]) / span, 3),
            "agent_talk": round(_length(legs["agent"]) / span, 3),
            "overtalk": round(_overlap(legs["caller"], legs["agent"]) / span, 3),
            "silence": round(max(0.0, span - _length(both)) / span, 3)}


def polarity(text: str) -> float:
    found = [w for w in WORD_RE.findall(text.lower()) if w in POSITIVE or w in NEGATIVE]
    if not found:
        return 0.0
    return round(sum(1 if w in POSITIVE else -1 for w in found) / len(found), 3)


def sentiment_trend(segments: list[dict[str, Any]], parts: int = 3
                    ) -> dict[str, list[float | None]]:
    """Each leg's mean polarity in each part of the call (None: silent there)."""
    if not segments:
        return {"caller": [], "agent": []}
    first = min(s["start"] for s in segments)
    span = max(max(s["end"] for s in segments) - first, 1e-6)
    out: dict[str, list[float | None]] = {}
    for who in ("caller", "agent"):
        buckets: list[list[float]] = [[] for _ in range(parts)]
        for s in segments:
            if s["speaker"] == who:
                index = min(parts - 1, int((s["start"] - first) / span * parts))
                buckets[index].append(polarity(s["text"]))
        out[who] = [round(sum(b) / len(b), 3) if b else None for b in buckets]
    return out


def summary(segments: list[dict[str, Any]], size: int = SUMMARY_SENTENCES) -> list[str]:
    counts = Counter(w for s in segments for w in WORD_RE.findall(s["text"].lower())
                     if w not in SHORT)

    def score(s: dict[str, Any]) -> float:
        found = [w for w in WORD_RE.findall(s["text"].lower()) if w not in SHORT]
        return sum(counts[w] for w in found) / (len(found) or 1)

    best = sorted(range(len(segments)), key=lambda i: -score(segments[i]))[:size]
    return [f"{segments[i]['speaker']}: {segments[i]['text']}" for i in sorted(best)]


def analyse(segments: list[dict[str, Any]]) -> dict[str, Any]:
    return {"summary": summary(segments), "ratios": ratios(segments),
            "sentiment": sentiment_trend(segments), "segments": len(segments)}
