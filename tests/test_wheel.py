"""The installed package is the product: a wheel built from this tree, installed alone into a clean venv and
run from a directory outside the checkout, decides, batches and serves with the model it carries."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
                   check=True, timeout=600)
    [whl] = out.glob("complaint_triage-*.whl")
    return whl


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """A fresh venv holding the wheel and its dependencies; returns its bin directory."""
    venv = tmp_path_factory.mktemp("venv") / "v"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(wheel)], check=True, timeout=1200)
    return venv / "bin"


@pytest.fixture
def outside(tmp_path) -> Path:
    """A working directory with no checkout in sight, and an environment that cannot point back at it."""
    assert ROOT not in tmp_path.parents
    return tmp_path


def clean_env() -> dict:
    return {k: v for k, v in os.environ.items()
            if k not in {"PYTHONPATH", "TRIAGE_MODEL_DIR", "TRIAGE_POLICY_DIR", "VIRTUAL_ENV"}}


def test_the_wheel_installs_one_import_name_and_carries_the_model(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names}
    assert {t for t in top if not t.endswith(".dist-info")} == {"complaint_triage"}
    for needed in ("complaint_triage/models/model.json", "complaint_triage/models/model.npz",
                   "complaint_triage/models/model_card.json", "complaint_triage/rules/policy.toml",
                   "complaint_triage/rules/examples/cases.jsonl", "complaint_triage/triage/lexicon/signals.toml"):
        assert needed in names


def test_the_installed_wheel_decides_outside_the_checkout(installed, outside):
    lines = "\n".join(json.dumps(c, ensure_ascii=False) for c in [
        {"id": "zh", "text": "快递丢了三次了,客服还挂我电话,再不处理我就去12315投诉"},
        {"id": "en", "text": "The space heater I bought caught fire last night and burned my hand."},
    ])
    done = subprocess.run([str(installed / "complaint-triage"), "decide"], input=lines, capture_output=True,
                          text=True, cwd=outside, env=clean_env(), timeout=300)
    assert done.returncode == 0, done.stderr
    zh, en = (json.loads(line) for line in done.stdout.splitlines())
    assert zh["language"] == "zh" and zh["escalation"]["level"] >= 2
    assert en["language"] == "en" and en["escalation"]["level"] == 3
    where = subprocess.run([str(installed / "python"), "-c", "import complaint_triage; print(complaint_triage.__file__)"],
                           capture_output=True, text=True, cwd=outside, env=clean_env(), check=True)
    assert str(ROOT) not in where.stdout


def test_the_installed_wheel_batches_outside_the_checkout(installed, outside):
    src = outside / "backlog.jsonl"
    src.write_text("\n".join(json.dumps({"id": str(i), "text": t}, ensure_ascii=False) for i, t in
                             enumerate(["包裹丢了", "I was charged twice", "房间很脏"] * 20)) + "\n", encoding="utf-8")
    done = subprocess.run([str(installed / "complaint-triage"), "batch", str(src), "-o", str(outside / "out.jsonl"),
                           "--workers", "2"], capture_output=True, text=True, cwd=outside, env=clean_env(),
                          timeout=600)
    assert done.returncode == 0, done.stderr
    assert len((outside / "out.jsonl").read_text().splitlines()) == 60


def test_the_installed_wheel_serves_outside_the_checkout(installed, outside):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**clean_env(), "DATABASE_URL": f"sqlite:///{outside / 'served.db'}"}
    server = subprocess.Popen([str(installed / "complaint-triage"), "serve", "--port", str(port), "--workers", "1"],
                              cwd=outside, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError as e:
                if server.poll() is not None or time.monotonic() > deadline:
                    why = server.stderr.read().decode() if server.poll() is not None else "timeout"
                    raise AssertionError(why) from e
                time.sleep(0.5)
        body = json.dumps({"id": "w1", "text": "热水器漏电，孩子被电了一下"}).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/triage", data=body,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            assert r.status == 201
            assert json.loads(r.read())["escalation"]["level"] == 3
    finally:
        server.terminate()
        server.wait(timeout=30)
        server.stderr.close()
