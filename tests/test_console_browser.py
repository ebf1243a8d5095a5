"""The console in a real browser: Playwright driving Debian's Chromium (never a downloaded browser) against the
app served on 127.0.0.1. An agent signs in, opens the queue, filters it, opens a case, sees the highlighted
evidence, corrects the category and sees the department and deadlines change, changes the status; a manager views
the dashboard. Screenshots of the queue, a zh case, an en case and the dashboard (and the queue on a phone) go to
tests/screenshots/.

Needs /usr/bin/chromium and fonts-wqy-microhei (tests/run.sh installs both); without them the tests skip, or fail
when TRIAGE_REQUIRE_BROWSER=1 (as tests/run.sh sets), so a green CI run cannot have skipped them.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parent / "screenshots"
PASSWORD = "correct horse battery"
LAUNCH_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--no-first-run"]

# (id, text, hours before now): a queue of zh and en complaints, some received long enough ago to be overdue
COMPLAINTS = [
    ("ZH-LIFT", "电梯困人！我和孩子被困在3号楼电梯里快一个小时了，物业电话一直打不通，孩子吓得一直哭。", 0.2),
    ("ZH-REPEAT", "快递丢了三次了,客服还挂我电话,再不处理我就去12315投诉", 30),
    ("ZH-BILL", "这个月的话费被多扣了58元，我没有开通过任何增值业务，请尽快退还。", 3),
    ("ZH-RUDE", "门店店员态度非常差，我问了两句就不耐烦，还翻白眼。", 300),
    ("EN-FIRE", "The space heater I bought caught fire last night and burned my hand. I want a full refund of $89.99.",
     0.5),
    ("EN-BILL", "I was charged twice for my subscription this month, please refund the extra $30.", 2),
    ("EN-LATE", "My parcel is two weeks late and the tracking page has not changed since it left the warehouse.", 240),
    ("EN-LAWYER", "Third time I'm writing about the broken fridge. If nobody fixes it this week my lawyer will "
                  "contact you.", 6),
]


def _browser_available() -> bool:
    try:
        import playwright  # noqa: F401
    except ImportError:
        return False
    return Path(CHROMIUM).exists()


if not _browser_available():
    if os.environ.get("TRIAGE_REQUIRE_BROWSER") == "1":
        raise RuntimeError(f"browser tests need playwright and {CHROMIUM} (tests/run.sh installs them)")
    pytestmark = pytest.mark.skip(reason=f"playwright or {CHROMIUM} missing")
else:
    pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The app on 127.0.0.1 (werkzeug's threaded server), with two agents, a manager and a seeded queue."""
    from werkzeug.serving import make_server

    from complaint_triage.pipeline import Decider
    from complaint_triage.service.api import create_app
    from complaint_triage.service.settings import Settings

    db = tmp_path_factory.mktemp("browser") / "console.db"
    app = create_app(Settings(database_url=f"sqlite:///{db}", log_level="WARNING"), Decider())
    accounts = app.extensions["console_accounts"]
    accounts.add("ann", "agent", PASSWORD)
    accounts.add("bob", "agent", PASSWORD)
    accounts.add("max", "manager", PASSWORD)
    client = app.test_client()
    now = datetime.now(timezone.utc)
    for cid, text, hours in COMPLAINTS:
        r = client.post("/v1/triage", json={"id": cid, "text": text,
                                            "received_at": (now - timedelta(hours=hours)).isoformat()})
        assert r.status_code == 201, r.text
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}", app
    httpd.shutdown()
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def shots():
    SHOTS.mkdir(exist_ok=True)
    return SHOTS


def sign_in(page, base, name):
    page.goto(f"{base}/console")
    assert "/console/login" in page.url
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button.primary")
    page.wait_for_load_state()


def test_agent_works_a_case_from_the_queue(server, browser, shots):
    base, app = server
    page = browser.new_page(viewport={"width": 1366, "height": 900}, locale="en-US")
    sign_in(page, base, "ann")
    assert page.url.endswith("/console")
    assert page.get_by_test_id("user").inner_text() == "ann"

    # the queue: every open case, nearest deadline first, overdue ones in red
    rows = page.locator("table.queue tbody tr")
    assert rows.count() == len(COMPLAINTS)
    assert page.locator("tr.is-overdue .overdue").count() >= 1
    color = page.locator("tr.is-overdue .overdue").first.evaluate("e => getComputedStyle(e).color")
    assert color == "rgb(179, 38, 30)"
    page.screenshot(path=str(shots / "queue.png"), full_page=True)

    # filter: Chinese complaints only
    page.select_option("select[name=language]", "zh")
    page.click(".filters button.primary")
    page.wait_for_load_state()
    assert "language=zh" in page.url
    ids = page.locator("table.queue a.id").all_inner_texts()
    assert ids and all(i.startswith("ZH-") for i in ids)

    # a zh case, with the UI in Chinese
    page.click("text=中文")
    page.wait_for_load_state()
    page.click("a.id >> text=ZH-REPEAT")
    page.wait_for_load_state()
    assert "处理记录" in page.content()
    assert page.locator("mark.ev").count() >= 1
    page.screenshot(path=str(shots / "case-zh.png"), full_page=True)

    # an en case, UI back in English: the evidence highlighted at its offsets
    page.click("text=English")
    page.goto(f"{base}/console/cases/EN-FIRE")
    marks = page.locator("mark.ev")
    decision = app.extensions["triage_store"].get_decision("EN-FIRE")
    expected = {e["text"] for e in decision["signals"]["evidence"]}
    shown = {m.evaluate("e => e.firstChild.textContent") for m in marks.all()}
    assert expected <= shown
    assert page.locator("mark.sig-injury").count() >= 1
    page.screenshot(path=str(shots / "case-en.png"), full_page=True)

    # correct the category of a billing complaint to safety: the case re-decides (department, level, deadlines)
    page.goto(f"{base}/console/cases/EN-BILL")
    department_before = page.get_by_test_id("department").inner_text()
    ack_before = page.locator("tr[data-deadline=acknowledge_by] td").first.inner_text()
    page.select_option("form[data-testid=correct] select[name=category]", "safety")
    page.click("form[data-testid=correct] button")
    page.wait_for_load_state()
    assert page.locator(".flash.ok").count() == 1
    department_after = page.get_by_test_id("department").inner_text()
    ack_after = page.locator("tr[data-deadline=acknowledge_by] td").first.inner_text()
    assert department_before == "billing" and department_after == "safety"
    assert ack_after != ack_before
    changes = page.get_by_test_id("changes")
    assert changes.locator("tr[data-field=department] td.new").inner_text() == "safety"
    assert changes.locator("tr[data-field='deadlines.acknowledge_by']").count() == 1

    # change the status
    assert page.get_by_test_id("status").inner_text() == "new"
    page.select_option("form[data-testid=status-form] select[name=status]", "acknowledged")
    page.click("form[data-testid=status-form] button")
    page.wait_for_load_state()
    assert page.get_by_test_id("status").inner_text() == "acknowledged"
    history = page.get_by_test_id("history").inner_text()
    assert "ann status new → acknowledged" in re.sub(r"\s+", " ", history)
    assert "ann correction" in re.sub(r"\s+", " ", history)

    # an agent does not see the dashboard
    assert page.locator("nav >> text=Dashboard").count() == 0
    assert page.goto(f"{base}/console/dashboard").status == 403
    page.close()


def test_manager_views_the_dashboard(server, browser, shots):
    base, _ = server
    page = browser.new_page(viewport={"width": 1366, "height": 900}, locale="en-US")
    sign_in(page, base, "max")
    assert page.url.endswith("/console/dashboard")
    assert page.locator("svg.chart").count() >= 3
    assert int(page.get_by_test_id("crises").inner_text()) >= 1
    page.screenshot(path=str(shots / "dashboard.png"), full_page=True)
    page.click("text=Monthly")
    page.wait_for_load_state()
    assert "period=month" in page.url and page.locator("svg.chart").count() >= 3
    page.goto(f"{base}/console/policy")
    assert page.locator("table.policy tr[id^=rule-]").count() > 20
    page.close()


def test_queue_reads_on_a_phone(server, browser, shots):
    base, _ = server
    page = browser.new_page(viewport={"width": 390, "height": 844}, locale="zh-CN", is_mobile=True,
                            device_scale_factor=2)
    page.set_extra_http_headers({"Accept-Language": "zh-CN,zh;q=0.9"})
    sign_in(page, base, "bob")
    assert "待办队列" in page.content()
    # no horizontal scrolling: the rows are cards on a narrow screen
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(shots / "queue-phone-zh.png"), full_page=False)
    page.close()


def test_readme_shots_are_copied_to_docs(shots):
    """The README shows docs/console-queue.png and docs/console-dashboard.png: refreshed from this run."""
    docs = Path(__file__).resolve().parent.parent / "docs"
    if os.environ.get("TRIAGE_UPDATE_DOCS_SHOTS") == "1":
        docs.mkdir(exist_ok=True)
        shutil.copy(shots / "queue.png", docs / "console-queue.png")
        shutil.copy(shots / "dashboard.png", docs / "console-dashboard.png")
    assert (docs / "console-queue.png").is_file() and (docs / "console-dashboard.png").is_file()
