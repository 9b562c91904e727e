"""A local stand-in for the Hub's upload API, enough for `create_repo`, `create_branch` and `upload_folder`
(which validates a README's metadata first): it answers every preupload with "regular" (files travel inside the
commit) and stores each commit's files in a folder per repo. `fail_commits=True` makes it refuse commits with a
500."""

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class LocalHub:
    def __init__(self, storage: Path, fail_commits: bool = False):
        self.storage = storage
        self.fail_commits = fail_commits
        self.requests: list[tuple[str, str]] = []
        self.commits: list[dict] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep the test output quiet
                pass

            def _reply(self, status: int, body: dict, headers: dict | None = None) -> None:
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(payload)

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                hub.requests.append(("POST", self.path))
                parts = self.path.split("?")[0].strip("/").split("/")
                if parts[:3] == ["api", "repos", "create"]:
                    request = json.loads(body)
                    repo_id = f"{request['organization']}/{request['name']}"
                    return self._reply(200, {"url": f"http://{self.headers['Host']}/{repo_id}", "name": repo_id})
                if parts[:2] == ["api", "validate-yaml"]:
                    return self._reply(200, {"errors": [], "warnings": []})
                if parts[:2] == ["api", "models"] and parts[4] == "branch":
                    return self._reply(200, {})
                if parts[:2] == ["api", "models"] and parts[4] == "preupload":
                    files = json.loads(body)["files"]
                    mode = [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files]
                    return self._reply(200, {"files": mode})
                if parts[:2] == ["api", "models"] and parts[4] == "commit":
                    if hub.fail_commits:
                        return self._reply(500, {"error": "the storage backend is down"})
                    repo_id, oid = "/".join(parts[2:4]), "1" * 40
                    hub.commit(repo_id, parts[5], [json.loads(line) for line in body.splitlines()])
                    url = f"http://{self.headers['Host']}/{repo_id}/commit/{oid}"
                    return self._reply(200, {"commitUrl": url, "commitOid": oid})
                self._reply(404, {"error": f"not implemented: POST {self.path}"}, {"X-Error-Code": "EntryNotFound"})

            def do_GET(self):
                hub.requests.append(("GET", self.path))
                self._reply(404, {"error": f"not implemented: GET {self.path}"}, {"X-Error-Code": "EntryNotFound"})

            do_HEAD = do_GET

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def commit(self, repo_id: str, revision: str, lines: list[dict]) -> None:
        header = next(line["value"] for line in lines if line["key"] == "header")
        files = {line["value"]["path"]: line["value"] for line in lines if line["key"] == "file"}
        self.commits.append({"repo_id": repo_id, "revision": revision, "message": header["summary"], "files": files})
        for path, value in files.items():
            target = self.storage / repo_id / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(base64.b64decode(value["content"]))

    def __enter__(self) -> "LocalHub":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
