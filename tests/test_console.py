"""The console (/console) through Flask's test client: sign-in and roles, CSRF, the queue's order, filters and
paging, a case's evidence, corrections that re-decide, assignment that never offers an excluded handler, the
dashboard, the policy page, both languages, and the users command. The real browser runs in test_console_browser.py.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from complaint_triage.service.api import create_app
from complaint_triage.service.settings import Settings

ZH = "快递丢了三次了,客服还挂我电话,再不处理我就去12315投诉"
EN = "The space heater I bought caught fire last night and burned my hand. I want a full refund of $89.99."
BILL = "I was charged twice for my subscription this month, please refund the extra $30."
PASSWORD = "correct horse battery"


@pytest.fixture(scope="session")
def decider():
    from complaint_triage.pipeline import Decider

    return Decider()


@pytest.fixture
def app(tmp_path, decider):
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'console.db'}", log_level="WARNING"), decider)
    accounts = app.extensions["console_accounts"]
    accounts.add("ann", "agent", PASSWORD)
    accounts.add("bob", "agent", PASSWORD)
    accounts.add("max", "manager", PASSWORD)
    return app


def _token(html: str) -> str:
    return re.search(r'name="csrf_token"[^>]*?value="([^"]+)"', html).group(1)


def sign_in(client, name="ann", password=PASSWORD):
    page = client.get("/console/login")
    return client.post("/console/login", data={"csrf_token": _token(page.text), "name": name,
                                               "password": password})


def triage(client, cid, text, **extra):
    resp = client.post("/v1/triage", data=json.dumps({"id": cid, "text": text, **extra}, ensure_ascii=False),
                       content_type="application/json")
    assert resp.status_code == 201, resp.text
    return resp.get_json()


def form_post(client, path, page_path, data):
    """POST a case form the way the page does: with the CSRF token the page carries."""
    token = _token(client.get(page_path).text)
    return client.post(path, data={"csrf_token": token, **data}, follow_redirects=True)


# ---------------------------------------------------------------- sign-in
def test_every_page_asks_to_sign_in_first(app):
    c = app.test_client()
    for path in ("/console", "/console/cases/x", "/console/dashboard", "/console/policy"):
        resp = c.get(path)
        assert resp.status_code == 302 and resp.headers["Location"].startswith("/console/login")
    page = c.get("/console/login")
    assert page.status_code == 200 and "<form" in page.text and 'name="password"' in page.text


def test_sign_in_wrong_password_unknown_name_and_missing_csrf(app):
    c = app.test_client()
    assert sign_in(c, "ann", "wrong password").status_code == 401
    assert sign_in(c, "nobody", PASSWORD).status_code == 401
    # no CSRF token: refused, not signed in
    resp = c.post("/console/login", data={"name": "ann", "password": PASSWORD})
    assert resp.status_code == 401
    assert c.get("/console").status_code == 302


def test_roles_agent_queue_manager_dashboard(app):
    agent, manager = app.test_client(), app.test_client()
    assert sign_in(agent).headers["Location"] == "/console"
    assert sign_in(manager, "max").headers["Location"] == "/console/dashboard"
    assert agent.get("/console").status_code == 200
    assert agent.get("/console/dashboard").status_code == 403
    assert manager.get("/console/dashboard").status_code == 200
    assert manager.get("/console").status_code == 200


def test_sign_in_never_redirects_off_site(app):
    c = app.test_client()
    page = c.get("/console/login?next=https://evil.example/")
    resp = c.post("/console/login?next=https://evil.example/", data={
        "csrf_token": _token(page.text), "name": "ann", "password": PASSWORD})
    assert resp.headers["Location"] == "/console"


def test_sign_out_and_deactivated_accounts(app):
    c = app.test_client()
    sign_in(c)
    page = c.get("/console")
    c.post("/console/logout", data={"csrf_token": _token(page.text)})
    assert c.get("/console").status_code == 302
    sign_in(c)
    app.extensions["console_accounts"].deactivate("ann")
    assert c.get("/console").status_code == 302
    assert sign_in(c).status_code == 401


def test_passwords_are_stored_hashed(app):
    from sqlalchemy import select

    accounts = app.extensions["console_accounts"]
    with accounts.engine.connect() as conn:
        hashes = conn.execute(select(accounts.users.c.password_hash)).scalars().all()
    assert all(PASSWORD not in h and h.startswith(("scrypt:", "pbkdf2:")) for h in hashes)


# ---------------------------------------------------------------- queue
def test_queue_sorted_by_nearest_deadline_and_filtered(app):
    c = app.test_client()
    now = datetime.now(timezone.utc)
    triage(c, "Q-crisis", EN)  # level 3: acknowledge within 1 h
    triage(c, "Q-zh", ZH)  # level 2
    triage(c, "Q-old", BILL, received_at=(now - timedelta(days=20)).isoformat())  # overdue long ago
    sign_in(c)
    page = c.get("/console").text
    order = [m for m in re.findall(r'href="/console/cases/([^"]+)"', page)]
    ids = list(dict.fromkeys(order))
    assert ids[0] == "Q-old" and ids.index("Q-crisis") < ids.index("Q-zh")
    assert 'class="is-overdue' in page and "overdue by" in page
    only_zh = c.get("/console?language=zh").text
    assert "Q-zh" in only_zh and "Q-crisis" not in only_zh
    crisis = c.get("/console?level=3").text
    assert "Q-crisis" in crisis and "Q-zh" not in crisis
    overdue = c.get("/console?overdue=true").text
    assert "Q-old" in overdue and "Q-crisis" not in overdue
    assert "Q-crisis" not in c.get("/console?assignee=me").text


def test_queue_pages_by_key_without_overlap(app, monkeypatch):
    from complaint_triage.service.console import views

    monkeypatch.setattr(views, "PAGE", 2)
    c = app.test_client()
    for i in range(5):
        triage(c, f"P-{i}", BILL if i % 2 else EN)
    sign_in(c)
    seen, url = [], "/console"
    while url:
        page = c.get(url).text
        seen += list(dict.fromkeys(re.findall(r'href="/console/cases/([^"]+)"', page)))
        m = re.search(r'href="([^"]+)" rel="next"', page)
        url = m.group(1).replace("&amp;", "&") if m else None
    assert sorted(seen) == [f"P-{i}" for i in range(5)]


# ---------------------------------------------------------------- a case
def test_case_highlights_evidence_at_its_offsets_and_explains_rules(app):
    from complaint_triage.rules.policy import load_policy

    c = app.test_client()
    decision = triage(c, "C-en", EN)
    sign_in(c)
    page = c.get("/console/cases/C-en").text
    marks = re.findall(r'<mark class="ev [^"]*" data-signal="([^"]+)"[^>]*>([^<]*)<sup>', page)
    evidence = decision["signals"]["evidence"]
    assert {(e["signal"], e["text"]) for e in evidence} <= {(s, t) for s, t in marks}
    rules = load_policy().rules
    for name in decision["rules_fired"]:
        assert name in page and rules[name].why.replace("'", "&#39;") in page
    assert "Acknowledge the complaint" in page  # the plan
    assert c.get("/console/cases/nope").status_code == 404


def test_highlight_handles_overlaps_and_bad_offsets():
    from complaint_triage.service.console.views import highlight

    out = str(highlight("abcdef<", [{"signal": "injury", "start": 0, "end": 4},
                                    {"signal": "amount", "start": 2, "end": 6},
                                    {"signal": "date", "start": 5, "end": 99}]))
    assert out.count("<mark") == 3 and "&lt;" in out
    assert 'data-signal="amount injury"' in out


def test_correct_category_re_decides_and_shows_what_changed(app):
    c = app.test_client()
    before = triage(c, "K-1", BILL)
    sign_in(c)
    page = "/console/cases/K-1"
    resp = form_post(c, "/console/cases/K-1/correct", page,
                     {"category": "delivery", "severity": "", "department": ""})
    assert resp.status_code == 200
    row = app.extensions["triage_store"].get("K-1")
    assert row["category"] == "delivery" and row["department"] == "logistics" != before["department"]
    assert 'data-testid="changes"' in resp.text and 'data-field="department"' in resp.text
    correction = [e for e in row["history"] if e["action"] == "correction"][-1]
    assert correction["actor"] == "ann"
    assert row["feedback"][-1]["category"] == "delivery"


def test_accept_records_feedback_and_a_note(app):
    c = app.test_client()
    triage(c, "A-1", BILL)
    sign_in(c, "bob")
    resp = form_post(c, "/console/cases/A-1/accept", "/console/cases/A-1", {})
    assert "Accepted" in resp.text
    row = app.extensions["triage_store"].get("A-1")
    assert row["feedback"][-1]["note"] == "accepted" and row["history"][-1]["actor"] == "bob"


def test_assign_never_offers_an_excluded_handler(app):
    c = app.test_client()
    triage(c, "X-1", "The agent bob was rude to me on the phone and hung up.", subject_employee_id="bob")
    sign_in(c)
    page = c.get("/console/cases/X-1").text
    options = re.findall(r'<option[^>]*value="([^"]*)"', page.split('data-testid="assign"')[1].split("</form>")[0])
    assert "ann" in options and "bob" not in options
    resp = form_post(c, "/console/cases/X-1/assign", "/console/cases/X-1", {"assignee": "bob"})
    assert app.extensions["triage_store"].get("X-1")["assignee"] is None
    assert "flash error" in resp.text
    form_post(c, "/console/cases/X-1/assign", "/console/cases/X-1", {"assignee": "ann"})
    assert app.extensions["triage_store"].get("X-1")["assignee"] == "ann"


def test_status_note_reply_resolution_satisfaction(app):
    c = app.test_client()
    triage(c, "S-1", BILL)
    sign_in(c)
    page = "/console/cases/S-1"
    for to in ("acknowledged", "in_progress"):
        form_post(c, "/console/cases/S-1/status", page, {"status": to})
    form_post(c, "/console/cases/S-1/note", page, {"text": "called the customer"})
    form_post(c, "/console/cases/S-1/reply", page, {"text": "We refunded the extra charge."})
    form_post(c, "/console/cases/S-1/resolution", page, {"remedy": "refund",
                                                         "refund_amount": "30"})
    # a status the machine does not allow from here is not even offered, and refused when forced
    resp = form_post(c, "/console/cases/S-1/status", page, {"status": "closed"})
    assert "flash error" in resp.text
    form_post(c, "/console/cases/S-1/status", page, {"status": "resolved"})
    resp = form_post(c, "/console/cases/S-1/satisfaction", page, {"score": "4"})
    row = app.extensions["triage_store"].get("S-1")
    assert row["status"] == "resolved" and row["satisfaction"] == 4
    assert row["resolution"]["remedy"] == "refund" and row["reply"]["text"].startswith("We refunded")
    assert {e["action"] for e in row["history"]} >= {"status", "note", "reply", "resolution", "satisfaction"}
    assert all(e["actor"] == "ann" for e in row["history"] if e["action"] != "created")
    assert "called the customer" in resp.text and "4/5" in resp.text


def test_a_post_without_the_csrf_token_changes_nothing(app):
    c = app.test_client()
    triage(c, "F-1", BILL)
    sign_in(c)
    resp = c.post("/console/cases/F-1/status", data={"status": "acknowledged"}, follow_redirects=True)
    assert "flash error" in resp.text
    assert app.extensions["triage_store"].get("F-1")["status"] == "new"


# ---------------------------------------------------------------- dashboard, policy, languages
def test_dashboard_charts_are_inline_svg(app):
    c = app.test_client()
    triage(c, "D-1", EN)
    triage(c, "D-2", ZH)
    sign_in(c, "ann")
    form_post(c, "/console/cases/D-2/accept", "/console/cases/D-2", {})
    sign_in(c, "max")
    for period in ("week", "month"):
        page = c.get(f"/console/dashboard?period={period}").text
        assert page.count("<svg") >= 4 and "http" not in page.split("<main>")[1].split("</main>")[0].replace(
            "http://www.w3.org", "")
        assert 'data-testid="crises">1<' in page


def test_policy_page_shows_every_rule(app):
    from complaint_triage.rules.policy import load_policy

    c = app.test_client()
    sign_in(c)
    page = c.get("/console/policy").text
    policy = load_policy()
    for rule in policy.rules.values():
        assert f'id="rule-{rule.name}"' in page
    assert "pre_refund_limit" in page and policy.version in page


def test_chinese_from_accept_language_and_the_switch(app):
    c = app.test_client()
    triage(c, "L-1", ZH)
    sign_in(c)
    zh = c.get("/console", headers={"Accept-Language": "zh-CN,zh;q=0.9"}).text
    assert "待办队列" in zh and "未结案件" in zh
    assert "Open cases" in c.get("/console").text
    c.get("/console/lang/zh")
    assert "处理规则" in c.get("/console/cases/L-1").text


def test_every_ui_text_has_a_chinese_translation():
    from complaint_triage.service.console.i18n import ZH

    root = Path(__file__).resolve().parent.parent / "service" / "console"
    used = set()
    for path in [*root.glob("templates/console/*.html"), root / "views.py"]:
        used |= set(re.findall(r"""_\(\s*'([^']+)'\s*\)""", path.read_text(encoding="utf-8")))
        used |= set(re.findall(r'''translate\(\s*"([^"]+)"\s*\)''', path.read_text(encoding="utf-8")))
    missing = sorted(u for u in used if u not in ZH)
    assert not missing, missing


def test_console_routes_are_not_in_the_api_document(app):
    spec = app.test_client().get("/openapi.json").get_json()
    assert not any(p.startswith("/console") for p in spec["paths"])


# ---------------------------------------------------------------- the users command
def test_users_command_adds_lists_and_deactivates(tmp_path):
    from complaint_triage.cli import main
    from complaint_triage.service.console.accounts import Accounts

    url = f"sqlite:///{tmp_path / 'u.db'}"
    runner = CliRunner()
    r = runner.invoke(main, ["users", "add", "li.wei", "--role", "manager", "--password-stdin",
                             "--database-url", url], input=PASSWORD + "\n")
    assert r.exit_code == 0, r.output
    r = runner.invoke(main, ["users", "add", "li.wei", "--role", "agent", "--password-stdin",
                             "--database-url", url], input=PASSWORD + "\n")
    assert r.exit_code != 0 and "exists" in r.output
    r = runner.invoke(main, ["users", "add", "short", "--role", "agent", "--password-stdin",
                             "--database-url", url], input="abc\n")
    assert r.exit_code != 0 and "at least" in r.output
    assert "li.wei\tmanager\tactive" in runner.invoke(main, ["users", "list", "--database-url", url]).output
    accounts = Accounts(url)
    assert accounts.check("li.wei", PASSWORD).role == "manager"
    assert runner.invoke(main, ["users", "deactivate", "li.wei", "--database-url", url]).exit_code == 0
    assert accounts.check("li.wei", PASSWORD) is None
