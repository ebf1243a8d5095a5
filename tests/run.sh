#!/usr/bin/env bash
# Set up everything the tests need on a fresh machine, then lint and run the whole suite (the README's test
# command; .ci/run runs exactly this). Extra arguments go to pytest, e.g. `bash tests/run.sh -m "not slow"`.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv
.venv/bin/pip install -q -e '.[test]'

# PostgreSQL: the storage tests run on it as well as on SQLite, and must not skip here.
export TRIAGE_TEST_POSTGRES_URL="${TRIAGE_TEST_POSTGRES_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/test}"
export TRIAGE_REQUIRE_POSTGRES=1
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
    if ! command -v pg_ctlcluster >/dev/null; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    fi
    version="$(ls /etc/postgresql | sort -V | tail -1)"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    for _ in $(seq 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi
if ! .venv/bin/python -c "import sqlalchemy as sa; sa.create_engine('$TRIAGE_TEST_POSTGRES_URL').connect().close()" 2>/dev/null; then
    # A fresh Debian server: let the local postgres user in over TCP and make the test database.
    runuser -u postgres -- psql -q -c "ALTER USER postgres PASSWORD 'postgres'" >/dev/null
    runuser -u postgres -- createdb test 2>/dev/null || true
    export TRIAGE_TEST_POSTGRES_URL="postgresql+psycopg://postgres:postgres@127.0.0.1:5432/test"
fi

# Browser tests (tests/test_console_browser.py): Debian's Chromium driven by Playwright (pinned in .[test]; never a
# downloaded browser) and a CJK font so Chinese renders as text, not boxes. They fail rather than skip here.
if ! command -v chromium >/dev/null || ! fc-list 2>/dev/null | grep -qi "wenquanyi micro hei"; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null
fi
export TRIAGE_REQUIRE_BROWSER=1

.venv/bin/ruff check .
.venv/bin/pytest -q "$@"
