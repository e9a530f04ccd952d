"""`katsaus serve`'s report folders over HTTP: the UI's links open the PDF and HTML, nothing else is served."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from flows.artifacts import report_link
from flows.report_server import ReportServer


def fetch(url: str, method: str = "GET") -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as refused:
        return refused.code, b""


@pytest.fixture
def folders(tmp_path):
    out, archive = tmp_path / "out", tmp_path / "archive"
    (out / "2024-08-forecast").mkdir(parents=True)
    (out / "2024-08-forecast" / "report.pdf").write_bytes(b"%PDF-1.7 luonnos")
    (out / ".2024-08-forecast.draft-abc").mkdir()
    (out / ".2024-08-forecast.draft-abc" / "report.pdf").write_bytes(b"%PDF-1.7 oma luonnos")
    (archive / "2024-08-forecast" / "v1").mkdir(parents=True)
    (archive / "2024-08-forecast" / "v1" / "report.pdf").write_bytes(b"%PDF-1.7 v1")
    (tmp_path / "secret.txt").write_text("ei näy")
    server = ReportServer(out, archive, "127.0.0.1", 0)
    yield out, archive, server
    server.stop()


def test_the_links_the_ui_shows_open_the_report_and_its_draft(folders):
    out, _, server = folders
    for report in (out / "2024-08-forecast", out / ".2024-08-forecast.draft-abc"):
        status, body = fetch(report_link(report, base_url=server.reports_url))
        assert status == 200 and body == (report / "report.pdf").read_bytes()
    assert fetch(f"{server.url}/arkisto/2024-08-forecast/v1/report.pdf") == (200, b"%PDF-1.7 v1")


@pytest.mark.parametrize(
    "path",
    ["/raportit/../secret.txt", "/raportit/%2e%2e/secret.txt", "/secret.txt", "/", "/raportit/puuttuu/report.pdf"],
)
def test_nothing_outside_the_two_folders_is_served(folders, path):
    _, _, server = folders
    assert fetch(server.url + path)[0] == 404


def test_the_folders_are_read_only(folders):
    out, _, server = folders
    for method in ("POST", "PUT", "DELETE"):
        assert fetch(f"{server.reports_url}/2024-08-forecast/report.pdf", method)[0] == 501
    assert (out / "2024-08-forecast" / "report.pdf").read_bytes() == b"%PDF-1.7 luonnos"


def test_a_port_in_use_is_said_in_finnish(folders):
    out, archive, server = folders
    port = int(server.url.rsplit(":", 1)[1])
    with pytest.raises(RuntimeError, match=f"127.0.0.1:{port}.*--reports-port"):
        ReportServer(out, archive, "127.0.0.1", port)
