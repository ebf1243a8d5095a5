"""The OpenAPI document is generated from the routes and their models (issue 11, item 16): what it says about
security, parameter types, responses, vocabularies and links."""

from __future__ import annotations

import pytest

from complaint_triage.contract import CATEGORIES, DEPARTMENTS, SEVERITIES
from complaint_triage.service.api import create_app
from complaint_triage.service.settings import Settings


def spec(tmp_path, keys: str = "") -> dict:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'doc.db'}", log_level="WARNING", api_keys=keys)
    return create_app(settings, decider=object()).test_client().get("/openapi.json").get_json()  # type: ignore[arg-type]


def operations(doc: dict):
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            yield path, method, op


def test_every_route_is_documented_from_the_app(tmp_path):
    doc = spec(tmp_path)
    assert {(p, m) for p, m, _ in operations(doc)} == {
        ("/v1/triage", "post"), ("/v1/triage/batch", "post"), ("/v1/complaints", "get"),
        ("/v1/complaints/{complaint_id}", "get"), ("/v1/complaints/{complaint_id}/feedback", "post"),
        ("/v1/stats", "get"), ("/healthz", "get"), ("/readyz", "get"),
        # the case (issue 13)
        *((f"/v1/complaints/{{complaint_id}}/{name}", "post")
          for name in ("status", "assign", "notes", "reply", "resolution", "satisfaction", "report")),
    }


def test_security_only_when_keys_are_configured_and_never_on_probes(tmp_path):
    open_doc = spec(tmp_path)
    assert "security" not in open_doc and "securitySchemes" not in open_doc["components"]
    assert all("security" not in op and "401" not in op["responses"] for _, _, op in operations(open_doc))
    (tmp_path / "k").mkdir()
    keyed = spec(tmp_path / "k", keys="k1,k2")
    assert keyed["components"]["securitySchemes"]["ApiKey"] == {"type": "apiKey", "in": "header",
                                                                "name": "X-API-Key"}
    for path, _, op in operations(keyed):
        if path.startswith("/v1"):
            assert op["security"] == [{"ApiKey": []}] and "401" in op["responses"]
        else:
            assert "security" not in op and "401" not in op["responses"]


def test_query_parameters_are_typed(tmp_path):
    doc = spec(tmp_path)
    params = {(p, q["name"]): q["schema"] for p, m, op in operations(doc) for q in op["parameters"]}
    assert params[("/v1/triage", "dry_run")]["type"] == "boolean"
    assert params[("/v1/triage/batch", "dry_run")]["type"] == "boolean"
    assert params[("/v1/complaints", "limit")].items() >= {"type": "integer", "minimum": 1, "maximum": 500}.items()
    assert params[("/v1/complaints", "offset")]["maximum"] == 10_000
    assert params[("/v1/complaints", "escalation_level")]["type"] == "integer"
    assert params[("/v1/complaints", "category")]["enum"] == list(CATEGORIES)
    assert params[("/v1/complaints", "severity")]["enum"] == list(SEVERITIES)
    assert params[("/v1/complaints", "department")]["enum"] == list(DEPARTMENTS)
    assert params[("/v1/stats", "period")]["enum"] == ["day", "week", "month"]
    assert {a["format"] for a in params[("/v1/stats", "received_from")]["anyOf"]} == {"date", "date-time"}


@pytest.mark.parametrize("path, method, status, schema", [
    ("/v1/triage", "post", "201", "Decision"),
    ("/v1/triage/batch", "post", "201", "BatchResponse"),
    ("/v1/complaints", "get", "200", "ComplaintPage"),
    ("/v1/complaints/{complaint_id}", "get", "200", "StoredComplaintWithFeedback"),
    ("/v1/complaints/{complaint_id}/feedback", "post", "201", "FeedbackOut"),
    ("/v1/stats", "get", "200", "StatsOut"),
    ("/v1/complaints", "get", "422", "ErrorOut"),
    ("/readyz", "get", "503", "ErrorOut"),
])
def test_responses_have_schemas(tmp_path, path, method, status, schema):
    doc = spec(tmp_path)
    content = doc["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"]
    assert content == {"$ref": f"#/components/schemas/{schema}"}
    assert schema in doc["components"]["schemas"]


def test_the_batch_limit_of_this_app_is_in_its_document(tmp_path):
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'doc.db'}", log_level="WARNING", max_batch=7)
    doc = create_app(settings, decider=object()).test_client().get("/openapi.json").get_json()  # type: ignore[arg-type]
    assert doc["components"]["schemas"]["BatchRequest"]["properties"]["complaints"]["maxItems"] == 7


def test_vocabularies_are_enums_from_the_contract(tmp_path):
    schemas = spec(tmp_path)["components"]["schemas"]
    assert schemas["Complaint"]["properties"]["category"]["anyOf"][0]["enum"] == list(CATEGORIES)
    assert schemas["Decision"]["properties"]["department"]["enum"] == list(DEPARTMENTS)


def test_links_lead_from_a_created_complaint_to_its_reads_and_feedback(tmp_path):
    doc = spec(tmp_path)
    op_ids = {op["operationId"] for _, _, op in operations(doc)}
    links = doc["paths"]["/v1/triage"]["post"]["responses"]["201"]["links"]
    assert {link["operationId"] for link in links.values()} == {"getComplaint", "addFeedback", "setStatus", "assign", "addNote"}
    assert all(link["parameters"] == {"complaint_id": "$response.body#/id"} for link in links.values())
    batch = doc["paths"]["/v1/triage/batch"]["post"]["responses"]["201"]["links"]
    assert {link["operationId"] for link in batch.values()} <= op_ids
