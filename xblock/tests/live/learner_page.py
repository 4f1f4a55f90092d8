"""A learner's page for the browser test and `npm start`'s demo: the XBlock's student view,
served as the LMS would (started by src/local/learner-page.ts).

    learner_page.py ANONYMOUS_ID JQUERY_JS [PORT]

Binds 127.0.0.1 on PORT (default: a free one) and prints `port N`, then reads one line of
JSON from stdin: {"settings": the XBLOCK_SETTINGS bucket (API_URL, SERVICE_TOKEN, PUBLIC_API_URL), "fields": the
unit's Studio fields (lab_name, default "demo"; terminal_enabled, terminal_read_only)}. The
page's origin is known before the API starts, so the API can list it in `corsOrigins`. `GET /`
renders the real fragment (HTML, CSS, heartbeat.js, terminal.js, lab.js) through the XBlock
test runtime for one learner, with jQuery as the LMS provides it; `/handler/NAME` routes the
page's handler calls to the block.
"""

from __future__ import annotations

import json
import os
import sys
from string import Template
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from webob import Request  # noqa: E402

from conftest import Unit  # noqa: E402

ANONYMOUS_ID, JQUERY = sys.argv[1], sys.argv[2]
PORT = int(sys.argv[3]) if len(sys.argv) > 3 else 0
USER_ID = "learner-1"
unit: Any = None

PAGE = Template(
    """<!doctype html>
<html><head><meta charset="utf-8"><title>$title</title>
<script src="/jquery.js"></script>
<style>body{font-family:sans-serif;max-width:52rem;margin:1.5rem auto}</style>
$head</head>
<body><div class="xblock" id="block">$body</div>
$foot
<script>
var runtime = { handlerUrl: function (element, name) { return '/handler/' + name; } };
LabXBlock(runtime, document.getElementById('block'), $init);
</script></body></html>"""
)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def send(self, status: int, content_type: str, body: bytes, headers: Any = ()) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/":
            block = unit.block_for(USER_ID, ANONYMOUS_ID)
            fragment = block.student_view({})
            html = PAGE.substitute(
                title=block.display_name,
                head=fragment.head_html(),
                foot=fragment.foot_html(),
                body=fragment.body_html(),
                init=json.dumps(fragment.json_init_args).replace("</", "<\\/"),
            )
            self.send(200, "text/html; charset=utf-8", html.encode())
        elif self.path == "/jquery.js":
            with open(JQUERY, "rb") as f:
                self.send(200, "text/javascript", f.read())
        elif self.path.startswith("/handler/"):
            self.handle_block()
        else:
            self.send(404, "text/plain", b"not found")

    def do_POST(self) -> None:
        if self.path.startswith("/handler/"):
            self.handle_block()
        else:
            self.send(404, "text/plain", b"not found")

    def handle_block(self) -> None:
        name = self.path[len("/handler/"):].split("?")[0]
        length = int(self.headers.get("Content-Length") or 0)
        request = Request.blank("/", method=self.command)
        request.body = self.rfile.read(length) if length else b""
        if self.headers.get("Content-Type"):
            request.content_type = self.headers["Content-Type"]
        block = unit.block_for(USER_ID, ANONYMOUS_ID)
        response = block.runtime.handle(block, name, request)
        headers = [
            (k, v) for k, v in response.headerlist if k.lower() not in ("content-type", "content-length")
        ]
        self.send(response.status_code, response.content_type or "text/plain", response.body, headers)


def main() -> None:
    global unit
    server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
    server.daemon_threads = True
    print(f"port {server.server_address[1]}", flush=True)
    config = json.loads(sys.stdin.readline())
    fields = dict(config.get("fields") or {})
    unit = Unit(config["settings"], lab_name=fields.pop("lab_name", "demo"))
    block = unit.block_for(USER_ID, ANONYMOUS_ID)
    for name, value in fields.items():
        setattr(block, name, value)
    block.save()
    print("serving", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
