"""A loopback HTTP server that replays the recorded OpenML responses in tests/data/openml to the
real `openml` client (see tests/data/openml/README.md).

It answers the API calls for the recorded data sets and tasks, serves their data and split files
at the addresses it writes into the description's <oml:url> and the task's <oml:data_splits_url>,
answers unknown ids with HTTP 412 and OpenML error 111, and lists suites given to it. With
`status=500` every request gets an HTML 500 page, as from a server that is down.
"""

from __future__ import annotations

import gzip
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

RECORDED = Path(__file__).resolve().parent / "data" / "openml" / "test-server"
API = "/api/v1/xml"
UNKNOWN = ('<oml:error xmlns:oml="http://openml.org/openml"><oml:code>111</oml:code>'
           "<oml:message>Unknown {what}</oml:message></oml:error>")
# The layout of OpenML's answer to GET study/ID, for suites the tests make up
SUITE = ('<oml:study xmlns:oml="http://openml.org/openml"><oml:id>{id}</oml:id>'
         "<oml:main_entity_type>task</oml:main_entity_type><oml:name>{name}</oml:name>"
         "<oml:description>replayed test suite</oml:description><oml:status>active</oml:status>"
         "<oml:creation_date>2024-01-01 00:00:00</oml:creation_date><oml:creator>1</oml:creator>"
         "<oml:tasks>{tasks}</oml:tasks></oml:study>")


class Replay:
    """Serve `root` (laid out like tests/data/openml/test-server) on 127.0.0.1 at a free port."""

    def __init__(self, root: Path = RECORDED, status: int = 200,
                 suites: dict[int, list[int]] | None = None) -> None:
        self.root, self.status, self.suites = root, status, suites or {}
        self.requests: list[str] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.url = self.base + API
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Replay:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()

    def answer(self, path: str) -> tuple[int, str]:
        """Status and body for a GET of `path`."""
        if self.status != 200:
            return self.status, "<html><body><h1>Internal Server Error</h1></body></html>"
        routes = {
            rf"{API}/data/(\d+)": ("datasets/{}/description.xml", "dataset"),
            rf"{API}/data/features/(\d+)": ("datasets/{}/features.xml", "dataset"),
            rf"{API}/data/qualities/(\d+)": ("datasets/{}/qualities.xml", "dataset"),
            rf"{API}/task/(\d+)": ("tasks/{}/task.xml", "task"),
            r"/files/datasets/(\d+)/dataset\.arff": ("datasets/{}/dataset.arff", "dataset"),
            r"/files/tasks/(\d+)/datasplits\.arff": ("tasks/{}/datasplits.arff", "task"),
        }
        suite = re.fullmatch(rf"{API}/study/(\d+)", path)
        if suite and int(suite[1]) in self.suites:
            tasks = "".join(f"<oml:task_id>{t}</oml:task_id>" for t in self.suites[int(suite[1])])
            return 200, SUITE.format(id=suite[1], name=f"suite {suite[1]}", tasks=tasks)
        for pattern, (file, what) in routes.items():
            match = re.fullmatch(pattern, path)
            if match and (self.root / file.format(match[1])).is_file():
                return 200, self._rewrite((self.root / file.format(match[1])).read_text(), match[1])
            if match:
                return 412, UNKNOWN.format(what=what)
        return 412, UNKNOWN.format(what="call")

    def _rewrite(self, text: str, number: str) -> str:
        """Point the data and split URLs here; drop the parquet URL (that would go to MinIO)."""
        text = re.sub(r"<oml:url>.*?</oml:url>",
                      f"<oml:url>{self.base}/files/datasets/{number}/dataset.arff</oml:url>", text)
        text = re.sub(r"<oml:data_splits_url>.*?</oml:data_splits_url>",
                      f"<oml:data_splits_url>{self.base}/files/tasks/{number}/datasplits.arff"
                      "</oml:data_splits_url>", text)
        return re.sub(r"<oml:parquet_url>.*?</oml:parquet_url>", "", text)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        replay = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = urlsplit(self.path).path
                replay.requests.append(path)
                status, body = replay.answer(path)
                data = gzip.compress(body.encode())
                self.send_response(status)
                self.send_header("Content-Type", "text/xml; charset=utf-8")
                self.send_header("Content-Encoding", "gzip")  # as OpenML sends it
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        return Handler
