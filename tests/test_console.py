"""The web console in a real browser: Debian's Chromium driven by Playwright against a real
`streamdb server` on 127.0.0.1 with the saved orders and widgets queries. The README's
screenshots are taken here: into docs/ (console-*.png) with STREAMDB_SCREENSHOTS=1, else into
the test's temporary folder, so a plain run leaves the work tree as it was."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from server.console import ASSETS, asset_path
from tests.live_server import LiveServer, live_server

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
DOCS = ROOT / "docs"
TIMEOUT_MS = 15_000
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium by its path (no browser build can be downloaded on these machines),
    for this module only: sync Playwright keeps an event loop running in this thread while it
    is open, which other modules' anyio.run() would refuse."""
    assert shutil.which(CHROMIUM), f"{CHROMIUM} is missing: run `bash scripts/setup.sh` as root"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser context (no login, history or properties kept) and page."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    yield context.new_page()
    context.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data = tmp_path_factory.mktemp("console") / "data"
    with live_server(data, "--queries", str(ROOT / "queries")) as served:
        ksql(served.url, (ROOT / "examples" / "seed.sql").read_text())
        yield served


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    """Where the screenshots go: docs/ when asked for (to refresh the README's), else a
    temporary folder."""
    if os.environ.get("STREAMDB_SCREENSHOTS") == "1":
        return DOCS
    return tmp_path


@pytest.fixture
def console(page: Page, server: LiveServer) -> Page:
    page.set_default_timeout(TIMEOUT_MS)
    expect.set_options(timeout=TIMEOUT_MS)
    page.goto(server.url + "/")
    expect(page.locator("#catalog li.source").first).to_be_visible()
    return page


def ksql(url: str, sql: str) -> list[dict[str, Any]]:
    response = httpx.post(f"{url}/ksql", json={"ksql": sql}, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def editor(page: Page) -> Any:
    return page.get_by_role("textbox").first


def run(page: Page, sql: str) -> None:
    """Type `sql` into the editor and press Ctrl+Enter with the caret at its end."""
    box = editor(page)
    box.fill(sql)
    box.press("Control+Enter")


def test_the_editor_is_the_first_text_box_and_has_focus(console: Page) -> None:
    expect(editor(console)).to_be_focused()
    expect(editor(console)).to_have_attribute("aria-label", "SQL editor")


def test_assets_are_packaged_and_served_without_a_network(server: LiveServer) -> None:
    """Every file of the console is served, and none loads anything from another host (the
    SVG namespace is a name, not a request)."""
    page = httpx.get(server.url + "/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    linked = set(re.findall(r'(?:src|href)="/console/([^"]+)"', page.text))
    assert linked == {"console.css", "main.js"}
    for path in sorted(ASSETS.iterdir()):
        asset = httpx.get(f"{server.url}/console/{path.name}")
        assert asset.status_code == 200, path.name
        assert asset.text == path.read_text()
        hosts = set(re.findall(r"//([\w-]+(?:\.[\w-]+)+)", asset.text)) - {"www.w3.org"}
        assert not hosts, (path.name, hosts)
    for outside in ("/console/", "/console/.hidden", "/console/nope.js", "/console.py"):
        assert httpx.get(server.url + outside).status_code == 404, outside
    assert asset_path("/console/../console.py") is None  # (an HTTP client resolves the dots)
    assert asset_path("/console/..%2Fconsole.py") is None


def test_create_a_stream_insert_rows_and_see_the_csas_in_the_flow_graph(console: Page) -> None:
    run(
        console,
        "CREATE STREAM clicks (user_id VARCHAR KEY, page VARCHAR, ms INT) "
        "WITH (kafka_topic='clicks', value_format='JSON', partitions=1);",
    )
    expect(console.locator("#results")).to_contain_text("Stream created")
    expect(console.locator('#catalog li.source[data-name="CLICKS"]')).to_be_visible()
    editor(console).fill(
        "INSERT INTO clicks (user_id, page, ms) VALUES ('u1', 'home', 120);\n"
        "INSERT INTO clicks (user_id, page, ms) VALUES ('u2', 'cart', 340);"
    )
    editor(console).press("Control+a")
    editor(console).press("Control+Enter")  # the selection: both statements, in order
    expect(console.locator("#results")).to_contain_text(
        "Done: INSERT INTO clicks (user_id, page, ms) VALUES ('u2'"
    )
    run(console, "CREATE STREAM slow_clicks AS SELECT * FROM clicks WHERE ms > 200 EMIT CHANGES;")
    expect(console.locator("#results")).to_contain_text("Created query with ID CSAS_SLOW_CLICKS")
    console.get_by_role("tab", name="Flow").click()
    query = console.locator('#flow-graph g[data-id^="query:CSAS_SLOW_CLICKS"]')
    expect(query).to_be_visible()
    expect(
        console.locator(
            '#flow-graph path[data-from="source:CLICKS"][data-to^="query:CSAS_SLOW_CLICKS"]'
        )
    ).to_have_count(1)
    expect(
        console.locator(
            '#flow-graph path[data-from^="query:CSAS_SLOW_CLICKS"][data-to="source:SLOW_CLICKS"]'
        )
    ).to_have_count(1)
    query.click()
    expect(console.locator("#flow-detail .topology")).to_contain_text("Sub-topology")
    expect(console.locator("#flow-detail .topology")).to_contain_text("topics: [clicks]")
    run(console, "SELECT * FROM slow_clicks;")
    expect(console.locator("#results table.results tbody tr")).to_have_count(1)
    expect(console.locator("#results table.results tbody")).to_contain_text("cart")


def test_a_push_query_table_and_chart_grow_as_rows_arrive_through_rest(
    console: Page, server: LiveServer, screenshots: Path
) -> None:
    run(console, "SELECT order_id, customer_id, total_amount FROM orders EMIT CHANGES;")
    rows = console.locator("#results table.results tbody tr")
    expect(rows).to_have_count(2)  # the seed's two orders: auto.offset.reset is earliest
    console.locator("select.chart-column").select_option("TOTAL_AMOUNT")
    chart = console.locator("canvas.chart")
    expect(chart).to_be_visible()
    before = chart.evaluate("c => c.toDataURL()")
    for n in range(5):
        inserted = httpx.post(
            f"{server.url}/inserts-stream",
            content=(
                '{"target":"ORDERS"}\n'
                f'{{"ORDER_ID":{400 + n},"CUSTOMER_ID":1003,"ORDER_DATE":"2025-01-27","TOTAL_AMOUNT":{100.0 * (n + 1)}}}\n'
            ),
            timeout=30,
        )
        assert inserted.status_code == 200, inserted.text
    expect(rows).to_have_count(7)
    expect(console.locator(".row-count")).to_have_text("7 rows")
    expect(console.locator(".row-rate")).to_contain_text("rows/s")
    over_time = chart.evaluate("c => c.toDataURL()")
    assert over_time != before
    console.locator("select.chart-kind").select_option("bar")
    per_order = chart.evaluate("c => c.toDataURL()")
    assert per_order not in (before, over_time)
    console.locator("select.chart-key").select_option("CUSTOMER_ID")  # 3 bars, not 7
    assert chart.evaluate("c => c.toDataURL()") not in (before, over_time, per_order)
    console.locator("select.chart-kind").select_option("line")
    shot = screenshots / "console-push-query.png"
    console.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000
    console.locator("button.stop").click()
    expect(console.locator("button.stop")).to_be_disabled()
    expect(console.locator(".row-rate")).to_have_text("stopped")


def test_a_pull_query_is_a_table(console: Page) -> None:
    run(console, "SELECT * FROM customer_totals WHERE customer_id = 1001;")
    table = console.locator("#results table.results")
    expect(table.locator("th")).to_have_text(["CUSTOMER_ID", "ORDERS", "SPENT"])
    expect(table.locator("tbody tr")).to_have_count(1)
    expect(table.locator("tbody td").first).to_have_text("1001")
    expect(console.locator("button.stop")).to_have_count(0)


def test_an_error_is_marked_at_its_position(console: Page, screenshots: Path) -> None:
    run(console, "SHOW STREAMS;\nSELECT order_id,\n       nosuch_column FROM orders EMIT CHANGES;")
    mark = console.locator("#editor .error-mark")
    expect(mark).to_have_text("nosuch_column")
    expect(console.locator("#results .error")).to_contain_text("Line 2, column 8")
    run(console, "SELECT * FRM orders;")
    expect(mark).to_have_text("FRM")
    console.screenshot(path=str(screenshots / "console-error.png"))


def test_the_statement_at_the_cursor_runs(console: Page) -> None:
    box = editor(console)
    box.fill("SHOW TOPICS;\nSHOW TABLES;\n")
    box.evaluate("t => t.setSelectionRange(3, 3)")
    box.press("Control+Enter")
    expect(console.locator("#results")).to_contain_text("kafka_topics")
    box.evaluate("t => t.setSelectionRange(t.value.length, t.value.length)")
    box.press("Control+Enter")
    expect(console.locator("#results")).to_contain_text('"@type": "tables"')
    console.get_by_role("tab", name="History").click()
    expect(console.locator("#history li")).to_have_text(["SHOW TABLES;", "SHOW TOPICS;"])
    box.press("Control+ArrowUp")
    expect(box).to_have_value("SHOW TABLES;")
    box.press("Control+ArrowUp")
    expect(box).to_have_value("SHOW TOPICS;")
    box.press("Control+ArrowUp")  # the oldest stays
    expect(box).to_have_value("SHOW TOPICS;")
    box.press("Control+ArrowDown")
    box.press("Control+ArrowDown")
    expect(box).to_have_value("")
    console.locator("#history button", has_text="SHOW TOPICS;").click()
    expect(box).to_have_value("SHOW TOPICS;")


def test_completion_offers_keywords_functions_sources_and_columns(console: Page) -> None:
    box = editor(console)
    popup = console.locator("#editor .completion")
    box.fill("")
    box.press_sequentially("SELECT WIDGET_W")
    expect(popup).to_be_visible()
    expect(popup.locator("li").first).to_contain_text("WIDGET_WEIGHT_G")
    box.press("Tab")
    box.press_sequentially(", UCAS")
    expect(popup.locator("li").first).to_contain_text("UCASE")
    box.press("Enter")
    box.press_sequentially("(colour) FROM widg")
    expect(popup.locator('li[data-word="WIDGETS"]')).to_have_count(1)
    box.press("Escape")
    box.press_sequentially(" EMI")
    expect(popup.locator('li[data-word="EMIT"]')).to_have_count(1)
    assert box.input_value() == "SELECT WIDGET_WEIGHT_G, UCASE(colour) FROM widg EMI"
    box.press("Escape")
    box.press_sequentially(" WHERE colour = 'RE")  # inside a string: nothing to complete
    expect(popup).to_be_hidden()
    expect(console.locator("#editor .tok-keyword").first).to_have_text("SELECT")


def test_properties_are_set_as_in_the_cli(console: Page) -> None:
    run(console, "SET 'auto.offset.reset'='latest';")
    expect(console.locator("#offset-reset")).to_have_value("latest")
    expect(console.locator("#properties")).to_contain_text("auto.offset.reset=latest")
    run(console, "SELECT * FROM orders EMIT CHANGES;")
    expect(console.locator(".row-count")).to_have_text("0 rows")
    console.locator("button.stop").click()
    console.locator("#offset-reset").select_option("earliest")
    run(console, "SELECT * FROM orders EMIT CHANGES LIMIT 1;")
    expect(console.locator(".row-count")).to_have_text("1 row")


def test_the_catalog_shows_sources_queries_and_latest_records(
    console: Page, screenshots: Path
) -> None:
    catalog = console.locator("#catalog")
    for section in ("Streams", "Tables", "Queries", "Types", "Topics"):
        expect(catalog.locator(f'details[data-section="{section}"] > summary')).to_be_in_viewport()
    widgets = catalog.locator('li.source[data-name="WIDGETS"]')
    expect(widgets).to_contain_text("KAFKA/JSON · topic widgets · 1 partition")
    expect(catalog.locator('li.query[data-id="CSAS_WIDGETS_RED_3"]')).to_contain_text(
        "RUNNING → WIDGETS_RED"
    )
    widgets.get_by_role("button", name="WIDGETS").click()
    detail = console.locator("#source-detail")
    expect(detail.locator("table.schema")).to_contain_text("WIDGET_WEIGHT_G")
    expect(detail.locator(".records")).to_contain_text("aa-101")
    editor(console).fill("EXPLAIN CSAS_WIDGETS_HEAVY_4;")
    console.get_by_role("tab", name="Flow").click()
    console.locator('#flow-graph g[data-id="query:CSAS_WIDGETS_HEAVY_4"]').click()
    expect(console.locator("#flow-detail .topology")).to_contain_text("WIDGET_WEIGHT_G > 120")
    console.screenshot(path=str(screenshots / "console-flow.png"), full_page=True)


def test_terminate_and_drop_from_the_catalog(console: Page, server: LiveServer) -> None:
    ksql(server.url, "CREATE STREAM spare AS SELECT * FROM payments EMIT CHANGES;")
    ksql(server.url, "CREATE TYPE address AS STRUCT<street VARCHAR, zip INT>;")
    console.locator("#refresh").click()
    address = console.locator('#catalog li.type[data-name="ADDRESS"]')
    expect(address).to_contain_text("STRUCT<STREET STRING, ZIP INT>")
    query = console.locator('#catalog li.query[data-id^="CSAS_SPARE"]')
    console.on("dialog", lambda dialog: dialog.accept())
    query.get_by_role("button", name="Terminate").click()
    expect(query).to_have_count(0)
    source = console.locator('#catalog li.source[data-name="SPARE"]')
    source.get_by_role("button", name="Drop").click()
    expect(source).to_have_count(0)
    assert "SPARE" not in str(ksql(server.url, "SHOW STREAMS;"))
    address.get_by_role("button", name="Drop").click()
    expect(address).to_have_count(0)
    assert ksql(server.url, "SHOW TYPES;")[0]["types"] == {}


def test_the_console_asks_for_the_login_the_server_requires(page: Page, tmp_path: Path) -> None:
    users = tmp_path / "users.properties"
    users.write_text("alice: alice-secret,admin\n")
    config = tmp_path / "server.properties"
    config.write_text(f"authentication.method=BASIC\nauthentication.users.file={users}\n")
    with live_server(
        tmp_path / "data", "--config", str(config), auth=("alice", "alice-secret")
    ) as served:
        assert httpx.get(served.url + "/").status_code == 200  # the page holds no data
        plain = httpx.get(served.url + "/info")
        from_console = httpx.get(served.url + "/info", headers={"X-Streamdb-Console": "1"})
        assert plain.status_code == from_console.status_code == 401
        assert plain.headers["www-authenticate"].startswith("Basic")
        assert "www-authenticate" not in from_console.headers  # no native dialog: the form asks
        page.goto(served.url + "/")
        dialog = page.locator("dialog#login")
        expect(dialog).to_be_visible()
        page.locator("#login-user").fill("alice")
        page.locator("#login-password").fill("wrong")
        page.get_by_role("button", name="Log in").click()
        expect(page.locator("#login-problem")).to_contain_text("refused")
        page.locator("#login-password").fill("alice-secret")
        page.get_by_role("button", name="Log in").click()
        expect(dialog).to_be_hidden()
        expect(page.locator("#server")).to_contain_text("streamdb")
        run(page, "SHOW STREAMS;")
        expect(page.locator("#results")).to_contain_text('"@type": "streams"')


def test_statements_split_at_semicolons_outside_strings_names_and_comments(console: Page) -> None:
    split = console.evaluate(
        """async () => {
            const sql = await import("/console/sql.js");
            const text = "SELECT 'a;b', `c;d` FROM x; -- e;\\nSHOW STREAMS;\\n/* f; */";
            return {
                statements: sql.statements(text).map((s) => [s.start, s.text]),
                atCaret: sql.statementAt(text, text.length).text,
                kinds: ["SELECT 1 FROM t EMIT CHANGES;", "select * from t;", "PRINT 't';",
                        "SET 'a'='b';", "DROP STREAM s;"].map(sql.statementKind),
                position: sql.errorPosition("Line: 2, Col: 8: SELECT column 'X' cannot be resolved."),
            };
        }"""
    )
    assert split["statements"] == [
        [0, "SELECT 'a;b', `c;d` FROM x;"],
        [28, "-- e;\nSHOW STREAMS;"],
    ]
    assert split["atCaret"] == "-- e;\nSHOW STREAMS;"
    assert split["kinds"] == ["push", "pull", "print", "set", "ksql"]
    assert split["position"] == {"line": 2, "column": 8}


def test_print_shows_a_topics_records(console: Page) -> None:
    run(console, "PRINT 'orders' FROM BEGINNING LIMIT 2;")
    results = console.locator("#results")
    expect(results).to_contain_text("key: 301")
    expect(results).to_contain_text("key: 302")
