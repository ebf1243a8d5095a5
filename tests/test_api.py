"""The HTTP API through the app factory, on a temporary SQLite file, with the shipped model.

Tests that read the Decision's department/escalation/refund/plan fields (policy.md): they need
the policy stage in service/pipeline.py (listed in the report of the change that added this file).
"""

from __future__ import annotations

import json
import logging

import pytest

from complaint_triage.service.api import create_app
from complaint_triage.service.settings import Settings

ZH = "快递丢了三次了,客服还挂我电话,再不处理我就去12315投诉"
EN = "The space heater I bought caught fire last night and burned my hand. I want a full refund of $89.99."
PII = "My phone is 13812345678, email zhang.san@example.com, card 6222 0212 3456 7890 128. I was charged twice."
CONTRACT_FIELDS = {"id", "language", "category", "severity", "signals", "department", "also_notify",
                   "exclude_handlers", "escalation", "refund", "plan", "needs_review", "rules_fired", "versions"}


@pytest.fixture(scope="session")
def decider():
    from complaint_triage.pipeline import Decider

    return Decider()


@pytest.fixture
def settings(tmp_path):
    return Settings(database_url=f"sqlite:///{tmp_path / 'api.db'}", log_level="WARNING", max_batch=5,
                    max_body_bytes=64 * 1024)


@pytest.fixture
def client(settings, decider):
    return create_app(settings, decider).test_client()


def post(client, path, body, **kw):
    return client.post(path, data=json.dumps(body, ensure_ascii=False), content_type="application/json", **kw)


def assert_error(resp, status, field=None):
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == "application/json"
    body = resp.get_json()
    assert set(body) == {"error", "detail", "field"}
    if field is not None:
        assert body["field"] == field
    assert "Traceback" not in body["detail"] and "<html" not in resp.get_data(as_text=True).lower()


# ---------------------------------------------------------------- the contract
@pytest.mark.parametrize("text, category, department, min_level", [
    (ZH, None, None, 2),  # repeat + regulator threat
    (EN, "safety", "safety", 3),  # fire and injury
])
def test_triage_returns_the_contract_and_stores_it(client, text, category, department, min_level):
    r = post(client, "/v1/triage", {"id": "c1", "text": text})
    assert r.status_code == 201
    d = r.get_json()
    assert CONTRACT_FIELDS <= set(d)
    assert d["id"] == "c1"
    assert set(d["escalation"]) >= {"level", "name", "respond_within_hours", "report_within_hours"}
    assert set(d["refund"]) >= {"eligibility", "kind", "reason", "verify_within_days", "approval_required"}
    assert d["escalation"]["level"] >= min_level
    if category:
        assert d["category"]["label"] == category
        assert d["department"] == department
    stored = client.get("/v1/complaints/c1").get_json()
    assert stored["decision"] == d
    assert stored["department"] == d["department"]
    assert stored["escalation_level"] == d["escalation"]["level"]
    assert stored["refund_eligibility"] == d["refund"]["eligibility"]


def test_generated_id_and_override(client):
    r = post(client, "/v1/triage", {"text": EN, "category": "billing", "severity": "low"})
    assert r.status_code == 201
    d = r.get_json()
    assert len(d["id"]) == 32
    assert d["category"].items() >= {"label": "billing", "confidence": 1.0, "source": "override"}.items()
    assert client.get(f"/v1/complaints/{d['id']}").status_code == 200


# ---------------------------------------------------------------- idempotency and dry run
def test_same_id_returns_the_stored_decision_and_writes_no_second_row(client):
    first = post(client, "/v1/triage", {"id": "dup", "text": ZH})
    again = post(client, "/v1/triage", {"id": "dup", "text": "a completely different complaint about billing"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json() == first.get_json()
    assert client.get("/v1/complaints").get_json()["total"] == 1


def test_dry_run_stores_nothing(client):
    r = post(client, "/v1/triage?dry_run=true", {"id": "dry", "text": ZH})
    assert r.status_code == 200 and r.get_json()["id"] == "dry"
    assert client.get("/v1/complaints/dry").status_code == 404
    b = post(client, "/v1/triage/batch?dry_run=true", {"complaints": [{"text": ZH}, {"text": EN}]})
    assert b.status_code == 200 and len(b.get_json()["items"]) == 2
    assert client.get("/v1/complaints").get_json()["total"] == 0
    for value in ("maybe", "", "1", "yes", "True"):  # the document's boolean: exactly true or false
        assert_error(post(client, f"/v1/triage?dry_run={value}", {"text": ZH}), 422, "dry_run")
    assert post(client, "/v1/triage?dry_run=false", {"id": "wet", "text": ZH}).status_code == 201


def test_batch_is_stored_and_idempotent_per_item(client):
    body = {"complaints": [{"id": "b1", "text": ZH}, {"id": "b2", "text": EN}, {"id": "b1", "text": EN}]}
    r = post(client, "/v1/triage/batch", body)
    assert r.status_code == 201
    items = r.get_json()["items"]
    assert [i["created"] for i in items] == [True, True, False]
    assert items[2]["decision"] == items[0]["decision"]
    again = post(client, "/v1/triage/batch", body)
    assert again.status_code == 200 and not any(i["created"] for i in again.get_json()["items"])
    assert client.get("/v1/complaints").get_json()["total"] == 2


# ---------------------------------------------------------------- every error status
def test_malformed_json_is_400(client):
    assert_error(client.post("/v1/triage", data="{not json", content_type="application/json"), 400)


def test_wrong_content_type_is_415(client):
    assert_error(client.post("/v1/triage", data="text=hello", content_type="application/x-www-form-urlencoded"), 415)
    assert_error(client.post("/v1/triage", data=json.dumps({"text": "x"})), 415)


def test_body_too_large_is_413(client):
    assert_error(post(client, "/v1/triage", {"text": "x" * 70_000}), 413)


@pytest.mark.parametrize("body, field", [
    ({}, "text"),
    ({"text": ""}, "text"),
    ({"text": "   "}, "text"),
    ({"text": "x" * 20_001}, "text"),
    ({"text": "ok", "language": "fr"}, "language"),
    ({"text": "ok", "prior_complaints": -1}, "prior_complaints"),
    ({"text": "ok", "amount": -5}, "amount"),
    ({"text": "ok", "category": "weather"}, "category"),
    ({"text": "ok", "surprise": 1}, "surprise"),
    ([{"text": "ok"}], None),
])
def test_invalid_fields_are_422_naming_the_field(settings, decider, body, field):
    # 20,001 characters must reach validation, not the byte cap: the app is built with a larger cap
    client = create_app(settings.model_copy(update={"max_body_bytes": 1 << 20}), decider).test_client()
    assert_error(post(client, "/v1/triage", body), 422, field)


def test_batch_limits(client):
    assert_error(post(client, "/v1/triage/batch", {"complaints": [{"text": "x"}] * 6}), 422, "complaints")
    assert_error(post(client, "/v1/triage/batch", {"complaints": []}), 422, "complaints")
    assert_error(post(client, "/v1/triage/batch", {"complaints": [{"text": "ok"}, {"text": ""}]}), 422,
                 "complaints.1.text")
    assert_error(post(client, "/v1/triage/batch", {"complaints": [{"text": "y" * 20_000}] * 5}), 413)


def test_unknown_id_is_404(client):
    assert_error(client.get("/v1/complaints/nope"), 404, "id")
    assert_error(post(client, "/v1/complaints/nope/feedback", {"category": "billing"}), 404, "id")
    assert_error(client.get("/v1/nothing-here"), 404)


def test_wrong_method_is_json_405(client):
    assert_error(client.get("/v1/triage"), 405)


def test_internal_errors_are_json_500_without_a_trace(settings):
    class Broken:
        def decide(self, c):
            raise RuntimeError("boom 13812345678")

    app = create_app(settings, Broken())  # type: ignore[arg-type]
    assert_error(post(app.test_client(), "/v1/triage", {"text": "hello"}), 500)


# ---------------------------------------------------------------- auth
@pytest.mark.parametrize("headers, status", [({}, 401), ({"X-API-Key": "wrong"}, 401), ({"X-API-Key": "k2"}, 200)])
def test_api_keys(settings, decider, headers, status):
    settings.api_keys = "k1, k2"
    client = create_app(settings, decider).test_client()
    r = client.get("/v1/complaints", headers=headers)
    assert r.status_code == status
    if status == 401:
        assert_error(r, 401)
    assert client.get("/healthz").status_code == 200  # probes and docs stay open
    assert client.get("/openapi.json").status_code == 200


# ---------------------------------------------------------------- masking
def test_text_is_stored_and_logged_only_masked(client, caplog_service):
    r = post(client, "/v1/triage", {"id": "pii", "text": PII})
    assert r.status_code == 201
    raw = ["13812345678", "zhang.san", "6222 0212 3456 7890 128", "12345678"]
    stored = client.get("/v1/complaints/pii").get_json()
    assert "*******5678" in stored["text"] and "@example.com" in stored["text"]
    everything = json.dumps([stored, r.get_json(), client.get("/v1/complaints").get_json()], ensure_ascii=False)
    for s in raw:
        assert s not in everything
    logged = "\n".join(caplog_service)
    assert '"path": "/v1/triage"' in logged
    for s in raw:
        assert s not in logged


@pytest.fixture
def caplog_service(client):
    """The service logger does not propagate (one JSON line per event under gunicorn); capture its output."""
    from complaint_triage.service.api import JsonFormatter

    lines: list[str] = []

    class Capture(logging.Handler):
        def emit(self, record):
            lines.append(JsonFormatter().format(record))

    logger = logging.getLogger("complaint_triage.service")
    handler = Capture()
    old = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield lines
    logger.removeHandler(handler)
    logger.setLevel(old)


@pytest.mark.parametrize("text, masked", [
    ("call 13812345678 now", "call *******5678 now"),
    ("+86 138-1234-5678", "+** ***-****-5678"),
    ("电话010-12345678", "电话***-****5678"),
    ("mail a.b@ex.com", "mail ***@ex.com"),
    ("身份证11010519491231002X", "身份证**************002X"),
    ("card 6222-0212-3456-7894", "card ****-****-****-7894"),
    ("(555) 123-4567", "(***) ***-4567"),
    # not personal data: amounts, dates, hotlines stay readable
    ("¥1,200 on 2025-03-14, 12315", "¥1,200 on 2025-03-14, 12315"),
    ("refund 1500.00 for order 88231", "refund 1500.00 for order 88231"),
])
def test_mask_text(text, masked):
    from complaint_triage.masking import mask_text

    assert mask_text(text) == masked


@pytest.mark.parametrize("text", [
    "no digits and no at sign", "tel 13812345678 mail x@y.cn", "@shop 4008123456 why", "(555) 123-4567",
    "+44 20 7946 0958", "单号 6222 0212 3456 7894 与 11010519491231002X", "",
])
def test_the_guarded_patterns_mask_what_the_full_pattern_masks(text, corpus):
    """mask_text skips recognizers that cannot match; running every recognizer everywhere is the reference."""
    from complaint_triage.masking import mask_text

    for t in [text, *(it.text for it in corpus[::200])]:
        assert mask_text(t) == mask_text(t, guarded=False)


# ---------------------------------------------------------------- listing, filters, paging
@pytest.fixture
def filled(client, decider):
    body = {"complaints": [
        {"id": "f1", "text": EN, "category": "safety", "severity": "critical", "received_at": "2025-03-10T08:00:00Z"},
        {"id": "f2", "text": "charged twice", "category": "billing", "severity": "low",
         "received_at": "2025-03-12T08:00:00Z"},
        {"id": "f3", "text": "charged twice again", "category": "billing", "severity": "medium",
         "received_at": "2025-03-20T08:00:00Z"},
        {"id": "f4", "text": "the lobby is dirty", "category": "facilities", "severity": "low",
         "received_at": "2025-04-02T08:00:00Z"},
    ]}
    client.application.config["TRIAGE_SETTINGS"].max_batch = 10
    assert post(client, "/v1/triage/batch", body).status_code == 201
    return client


def ids(resp):
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return [i["id"] for i in resp.get_json()["items"]]


@pytest.mark.parametrize("query, expected", [
    ("", ["f4", "f3", "f2", "f1"]),
    ("category=billing", ["f3", "f2"]),
    ("severity=low", ["f4", "f2"]),
    ("department=billing", ["f3", "f2"]),
    ("department=safety", ["f1"]),
    ("escalation_level=3", ["f1"]),
    ("received_from=2025-03-11&received_to=2025-03-20", ["f3", "f2"]),  # a bare date is the whole day
    ("received_from=2025-03-12T09:00:00Z", ["f4", "f3"]),
    ("limit=2", ["f4", "f3"]),
    ("limit=2&offset=2", ["f2", "f1"]),
    ("limit=2&offset=4", []),
])
def test_list_filters_and_paging(filled, query, expected):
    r = filled.get(f"/v1/complaints?{query}")
    assert ids(r) == expected


def test_list_pages_by_cursor(filled):
    seen, url = [], "/v1/complaints?limit=1&category=billing"
    first = filled.get(url).get_json()
    assert first["total"] == 2 and first["next"]
    page = first
    while True:
        seen += [i["id"] for i in page["items"]]
        if page["next"] is None:
            break
        page = filled.get(f"{url}&cursor={page['next']}").get_json()
    assert seen == ["f3", "f2"]
    everything = filled.get("/v1/complaints?limit=2").get_json()
    assert ids(filled.get(f"/v1/complaints?limit=2&cursor={everything['next']}")) == ["f2", "f1"]
    assert filled.get("/v1/complaints?limit=4").get_json()["next"] is not None  # a full page: maybe more
    assert filled.get("/v1/complaints?limit=5").get_json()["next"] is None


@pytest.mark.parametrize("query, field", [
    ("cursor=not-a-cursor", "cursor"), ("cursor=WyJ4IiwgMV0", "cursor"), ("offset=10001", "offset"),
    ("limit=0", "limit"), ("limit=501", "limit"), ("offset=-1", "offset"), ("escalation_level=7", "escalation_level"),
    ("category=weather", "category"), ("received_from=yesterday", "received_from"), ("colour=red", "colour"),
])
def test_list_rejects_bad_queries(client, query, field):
    assert_error(client.get(f"/v1/complaints?{query}"), 422, field)


# ---------------------------------------------------------------- stats
def test_stats_per_period(filled):
    window = "received_from=2025-01-01&received_to=2025-12-31"
    week = filled.get(f"/v1/stats?period=week&{window}").get_json()
    assert week["period"] == "week"
    assert [(b["start"], b["total"]) for b in week["buckets"]] == [("2025-03-10", 2), ("2025-03-17", 1),
                                                                   ("2025-03-31", 1)]
    assert week["buckets"][0]["category"] == {"safety": 1, "billing": 1}
    assert week["buckets"][0]["department"] == {"safety": 1, "billing": 1}
    assert sum(week["buckets"][0]["refund_eligibility"].values()) == 2
    month = filled.get(f"/v1/stats?period=month&{window}").get_json()["buckets"]
    assert [(b["start"], b["total"]) for b in month] == [("2025-03-01", 3), ("2025-04-01", 1)]
    assert month[0]["severity"] == {"critical": 1, "low": 1, "medium": 1}
    day = filled.get("/v1/stats?received_from=2025-03-12&received_to=2025-03-12").get_json()["buckets"]
    assert [(b["start"], b["total"]) for b in day] == [("2025-03-12", 1)]
    assert_error(filled.get("/v1/stats?period=year"), 422, "period")


def test_stats_without_a_range_count_the_last_31_days(filled):
    from datetime import datetime, timedelta, timezone

    recent = (datetime.now(timezone.utc) - timedelta(days=2)).isoformat()
    assert post(filled, "/v1/triage", {"id": "recent", "text": "charged twice", "received_at": recent}).status_code == 201
    body = filled.get("/v1/stats?period=month").get_json()
    assert sum(b["total"] for b in body["buckets"]) == 1  # the four from 2025 are outside the window
    start = datetime.fromisoformat(body["received_from"])
    assert abs((datetime.now(timezone.utc) - start) - timedelta(days=31)) < timedelta(minutes=1)
    assert body["received_to"] is None


# ---------------------------------------------------------------- feedback
def test_feedback_is_validated_and_stored_masked(filled):
    r = post(filled, "/v1/complaints/f2/feedback",
             {"category": "refund_return", "department": "after_sales", "note": "customer called 13812345678"})
    assert r.status_code == 201
    fb = filled.get("/v1/complaints/f2").get_json()["feedback"]
    assert len(fb) == 1 and fb[0]["category"] == "refund_return" and fb[0]["department"] == "after_sales"
    assert "13812345678" not in fb[0]["note"]
    assert_error(post(filled, "/v1/complaints/f2/feedback", {}), 422)
    assert_error(post(filled, "/v1/complaints/f2/feedback", {"department": "marketing"}), 422, "department")
    assert_error(post(filled, "/v1/complaints/f2/feedback", {"severity": "urgent"}), 422, "severity")
    assert_error(post(filled, "/v1/complaints/f2/feedback", {"note": "x" * 2001}), 422, "note")


# ---------------------------------------------------------------- ops and docs
def test_health_ready_openapi_docs(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz").get_json()
    assert ready["status"] == "ready" and ready["model"].startswith("triage-")
    spec = client.get("/openapi.json").get_json()
    assert {"/v1/triage", "/v1/triage/batch", "/v1/complaints", "/v1/complaints/{complaint_id}", "/v1/stats",
            "/v1/complaints/{complaint_id}/feedback"} <= set(spec["paths"])
    schemas = spec["components"]["schemas"]
    assert {"Complaint", "Decision", "FeedbackIn", "ErrorOut"} <= set(schemas)
    assert "text" in schemas["Complaint"]["properties"]
    page = client.get("/docs")
    assert page.mimetype == "text/html" and b"/v1/triage/batch" in page.data and b"http" not in page.data.split(
        b"<body>")[0]


def test_readyz_is_503_when_the_database_is_gone(settings, decider, tmp_path):
    app = create_app(settings, decider)
    app.extensions["triage_store"].engine.dispose()
    from sqlalchemy import create_engine

    app.extensions["triage_store"].engine = create_engine(f"sqlite:///{tmp_path}/missing/dir/x.db")
    assert_error(app.test_client().get("/readyz"), 503)
