"""A real HTTP server on loopback that replays recorded THL Sotkanet answers (shared by the tests)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from tasks.goals import sotkanet as sk

RECORDINGS = Path(__file__).parent / "recordings" / "sotkanet"
PREFIX = "/rest/1.1"


def canon(pairs) -> tuple:
    return tuple(sorted((str(k), str(v)) for k, v in pairs))


class Replay:
    """Recorded answers by path and query, a request log and scripted faults."""

    def __init__(self, folder: Path):
        index = json.loads((folder / sk.INDEX).read_text(encoding="utf-8"))
        self.routes = {(e["path"], canon(e["query"])): folder / e["file"] for e in index}
        self.log: list[tuple[str, tuple]] = []
        self.faults: dict[str, list[tuple[str, object]]] = {}
        self.lock = threading.Lock()

    def fail(self, path: str, *faults: tuple[str, object]) -> None:
        """Answer the next requests to `path` with these faults, one each, then normally."""
        self.faults.setdefault(path, []).extend(faults)

    def count(self, path: str) -> int:
        return sum(1 for p, _ in self.log if p == path)

    def next_fault(self, path: str):
        with self.lock:
            queue = self.faults.get(path)
            return queue.pop(0) if queue else None


def make_handler(replay: Replay):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's naming)
            split = urlsplit(self.path)
            path = split.path.removeprefix(PREFIX)
            query = canon(parse_qsl(split.query))
            with replay.lock:
                replay.log.append((path, query))
            fault = replay.next_fault(path)
            try:
                if fault and fault[0] == "status":
                    self._send(int(fault[1]), b'{"error": "scripted"}')
                elif fault and fault[0] == "sleep":
                    time.sleep(float(fault[1]))
                    self._send(200, b"[]")
                elif fault and fault[0] == "body":
                    self._send(200, str(fault[1]).encode("utf-8"))
                elif (path, query) in replay.routes:
                    self._send(200, replay.routes[(path, query)].read_bytes())
                else:
                    self._send(404, b"Not Found", "text/plain")
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up waiting (the timeout tests)

        def _send(self, status: int, body: bytes, ctype: str = "application/json;charset=UTF-8"):
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    return Handler


def start_replay(folder: Path = RECORDINGS) -> tuple[Replay, ThreadingHTTPServer, str]:
    """Serve `folder` on a free loopback port; returns the replay, the server and the API's base URL."""
    replay = Replay(folder)
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(replay))
    server.daemon_threads = True
    server.block_on_close = False
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return replay, server, f"http://127.0.0.1:{server.server_address[1]}{PREFIX}"
