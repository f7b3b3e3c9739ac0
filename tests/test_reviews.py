"""Quality reviews through the API: forms per queue with weighted criteria,
a supervisor scores an answered call, every refusal names its field (and
stores nothing), agents read only their own reviews, everything audited,
and the averages per agent and per queue in analytics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text

from control.acd import queues as queue_admin
from control.acd.models import Call
from control.auth.audit import CLI
from control.db import Database
from tests.harness.api import Api, api
from tests.test_auth_api import cheap_hashes  # noqa: F401  (autouse fixture)

FORM = {"queue": "autos", "name": "Llamada de ventas", "criteria": [
    {"name": "saludo", "weight": 1, "kind": "yes_no"},
    {"name": "necesidad", "weight": 3, "kind": "scale_1_5"},
    {"name": "cierre", "weight": 2, "kind": "yes_no"},
]}


def _seed(a: Api) -> None:
    now = datetime.now(UTC)
    with a.db.session() as s:
        for name in ("autos", "hogar"):
            queue_admin.create_queue(s, name=name, actor=CLI)
        for call_id, ext, queue in (("c-ana", "1001", "autos"), ("c-luis", "1002", "autos"),
                                    ("c-ana-2", "1001", "autos"), ("c-hogar", "1001", "hogar")):
            s.add(Call(id=call_id, caller_channel="x", queue=queue, state="completed",
                       agent_extension=ext, entered_at=now - timedelta(minutes=5),
                       answered_at=now - timedelta(minutes=4), ended_at=now))
        s.add(Call(id="c-abandoned", caller_channel="y", queue="autos", state="abandoned",
                   entered_at=now - timedelta(minutes=3), ended_at=now))


def _count(a: Api, table: str) -> int:
    with a.db.engine.connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


async def _refused(a: Api, token: str, path: str, body: dict[str, Any], field: str) -> None:
    status, answer = await a.call("POST", path, token, json=body)
    assert (status, answer.get("field")) == (422, field), (body, answer)


async def test_forms_reviews_and_who_sees_them(tmp_path: Path, database: Database) -> None:
    async with api(tmp_path, db=database, seed=True) as a:
        _seed(a)
        sup, ana, luis = (await a.token("supervisor"), await a.token("agent"),
                          await a.token("agent2"))
        # -- forms: bad input names the field, nothing is stored -------------------
        crit = FORM["criteria"]
        for criteria, field in (
                ([], "criteria"),
                ([{**crit[0], "weight": 0}], "criteria.0.weight"),
                ([crit[0], {**crit[1], "weight": 101}], "criteria.1.weight"),
                ([{**crit[0], "weight": True}], "criteria.0.weight"),
                ([{**crit[0], "kind": "stars"}], "criteria.0.kind"),
                ([{"weight": 1, "kind": "yes_no"}], "criteria.0.name"),
                ([crit[0], crit[0]], "criteria.1.name"),
                ([{**crit[0], "colour": "red"}], "criteria.0.colour")):
            await _refused(a, sup, "/api/v1/evaluation-forms", {**FORM, "criteria": criteria},
                           field)
        await _refused(a, sup, "/api/v1/evaluation-forms", {**FORM, "queue": "nada"}, "queue")
        assert _count(a, "evaluation_forms") == 0
        status, _ = await a.call("POST", "/api/v1/evaluation-forms", ana, json=FORM)
        assert status == 403
        status, body = await a.call("POST", "/api/v1/evaluation-forms", sup, json=FORM)
        assert status == 201, body
        form = body["form"]
        status, body = await a.call("POST", "/api/v1/evaluation-forms", sup,
                                    json={**FORM, "queue": "hogar"})
        hogar_form = body["form"]
        status, body = await a.call("GET", "/api/v1/evaluation-forms?queue=autos", ana)
        assert status == 200 and [f["id"] for f in body["forms"]] == [form["id"]]

        # -- reviews: bad scores name the criterion ------------------------------------
        good = {"saludo": True, "necesidad": 4, "cierre": False}
        review = {"call_id": "c-ana", "form_id": form["id"]}
        for scores, field in (
                ({**good, "necesidad": 6}, "scores.necesidad"),
                ({**good, "necesidad": 0}, "scores.necesidad"),
                ({**good, "necesidad": 3.5}, "scores.necesidad"),
                ({**good, "saludo": 1}, "scores.saludo"),
                ({"saludo": True, "necesidad": 4}, "scores.cierre"),
                ({**good, "sonrisa": True}, "scores.sonrisa"),
                ([True, 4, False], "scores")):
            await _refused(a, sup, "/api/v1/reviews", {**review, "scores": scores}, field)
        await _refused(a, sup, "/api/v1/reviews", {"call_id": "c-ana", "scores": good},
                       "form_id")
        await _refused(a, sup, "/api/v1/reviews", {**review, "form_id": hogar_form["id"],
                                                   "scores": good}, "form_id")
        await _refused(a, sup, "/api/v1/reviews", {**review, "form_id": 999,
                                                   "scores": good}, "form_id")
        await _refused(a, sup, "/api/v1/reviews", {**review, "call_id": "c-abandoned",
                                                   "scores": good}, "call_id")
        status, body = await a.call("POST", "/api/v1/reviews", sup,
                                    json={**review, "call_id": "nada", "scores": good})
        assert status == 404 and body["field"] == "call_id"
        assert _count(a, "quality_reviews") == 0
        status, _ = await a.call("POST", "/api/v1/reviews", ana, json={**review, "scores": good})
        assert status == 403

        # -- scored: (1*1 + 3*0.75 + 2*0) / 6 = 54.2 ----------------------------------------
        status, body = await a.call("POST", "/api/v1/reviews", sup, json={
            **review, "scores": good, "comment": "Buen sondeo, sin cierre"})
        assert status == 201, body
        mine = body["review"]
        assert mine["score"] == 54.2 and mine["agent_extension"] == "1001"
        assert mine["reviewer"] == "sup@correduria.es" and mine["queue"] == "autos"
        status, body = await a.call("POST", "/api/v1/reviews", sup, json={
            "call_id": "c-luis", "form_id": form["id"],
            "scores": {"saludo": True, "necesidad": 5, "cierre": True}})
        theirs = body["review"]
        assert theirs["score"] == 100.0
        status, body = await a.call("POST", "/api/v1/reviews", sup, json={
            "call_id": "c-ana-2", "form_id": form["id"],
            "scores": {"saludo": False, "necesidad": 1, "cierre": True}})
        assert body["review"]["score"] == round(100 * 2 / 6, 1)

        # -- who sees what ----------------------------------------------------------------
        status, body = await a.call("GET", "/api/v1/reviews", ana)
        assert status == 200
        assert {r["call_id"] for r in body["reviews"]} == {"c-ana", "c-ana-2"}
        status, body = await a.call("GET", "/api/v1/reviews?agent=1002", ana)
        assert status == 403
        status, body = await a.call("GET", f"/api/v1/reviews/{theirs['id']}", ana)
        assert status == 403
        status, body = await a.call("GET", f"/api/v1/reviews/{mine['id']}", ana)
        assert status == 200 and body["review"]["comment"] == "Buen sondeo, sin cierre"
        status, body = await a.call("GET", "/api/v1/reviews", luis)
        assert [r["call_id"] for r in body["reviews"]] == ["c-luis"]
        status, body = await a.call("GET", "/api/v1/reviews?agent=1002", sup)
        assert [r["id"] for r in body["reviews"]] == [theirs["id"]]
        status, body = await a.call("GET", "/api/v1/reviews/99999", sup)
        assert status == 404

        # -- audited ------------------------------------------------------------------------
        with a.db.engine.connect() as conn:
            audited = conn.execute(text(
                "SELECT entity, actor FROM audit_log WHERE entity IN "
                "('evaluation_forms', 'quality_reviews') ORDER BY id")).all()
        assert [tuple(r) for r in audited] == (
            [("evaluation_forms", "sup@correduria.es")] * 2
            + [("quality_reviews", "sup@correduria.es")] * 3)

        # -- averages per agent and per queue in analytics ------------------------------------
        status, body = await a.call("GET", "/api/v1/analytics/reviews?period=today", sup)
        assert status == 200, body
        agents = {r["extension"]: r for r in body["agents"]}
        assert agents["1001"]["reviews"] == 2
        assert agents["1001"]["average_score"] == round((54.2 + 33.3) / 2, 1)
        assert agents["1002"]["average_score"] == 100.0 and agents["1002"]["name"] == "Luis Pérez"
        assert body["queues"] == [{"queue": "autos", "reviews": 3,
                                   "average_score": round((54.2 + 100 + 33.3) / 3, 1)}]
        status, _ = await a.call("GET", "/api/v1/analytics/reviews", ana)
        assert status == 403
