"""The report folders over HTTP, for `katsaus serve`: the report links in the Prefect UI open the PDF and the HTML.

A browser will not open a `file://` link from a web page, so `katsaus serve`
serves the output folder at `/raportit/` and the archive at `/arkisto/` on
loopback (read-only: GET and HEAD only) and points the runs' links there
(`KATSAUS_REPORT_BASE_URL`). An operator who publishes the folders on a web
server of their own sets that variable instead, and this server is not started.
"""

from __future__ import annotations

import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPORTS_PATH, ARCHIVE_PATH = "/raportit", "/arkisto"


class _ReportFolders(SimpleHTTPRequestHandler):
    """Files under two roots by their URL prefix; anything else is not found."""

    def __init__(self, *args, roots: dict[str, Path], **kwargs):
        self.roots = roots
        super().__init__(*args, **kwargs)

    def translate_path(self, path: str) -> str:
        for prefix, root in self.roots.items():
            if path == prefix or path.startswith(prefix + "/") or path.startswith(prefix + "?"):
                self.directory = str(root)
                # The parent's translation normalises the rest and drops `..`: nothing outside the root is served.
                return super().translate_path(path[len(prefix) :] or "/")
        return ""  # not a served folder: 404

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (the parent's signature)
        pass  # a line per request would bury the run's own lines on the console


class ReportServer:
    """The running server: its base URL for the output folder, and how to stop it."""

    def __init__(self, out: Path, archive: Path, host: str, port: int):
        handler = partial(_ReportFolders, roots={REPORTS_PATH: out, ARCHIVE_PATH: archive})
        try:
            self._server = ThreadingHTTPServer((host, port), handler)
        except OSError as exc:
            raise RuntimeError(
                f"Raporttien HTTP-palvelinta ei voitu käynnistää osoitteeseen {host}:{port} ({exc.strerror}); "
                "valitse toinen portti (--reports-port) tai aseta KATSAUS_REPORT_BASE_URL."
            ) from None
        self._server.daemon_threads = True
        bound_host, bound_port = self._server.server_address[:2]
        self.url = f"http://{bound_host}:{bound_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="katsaus-reports", daemon=True)
        self._thread.start()

    @property
    def reports_url(self) -> str:
        """The base of every report's link: `<url>/raportit/<report>/report.pdf`."""
        return self.url + REPORTS_PATH

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
