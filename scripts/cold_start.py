"""Cold start of Lambda function binaries, as the Lambda service sees it.

Each run spawns the binary afresh with the environment Lambda gives a function, pointed at a
minimal Lambda Runtime API served here on 127.0.0.1, and times from just before the spawn to
  - init: the binary's first `GET .../invocation/next` (Lambda's end of init), and
  - first answer: its `POST .../invocation/<id>/response` (or `/error`) to the one event handed
    out, an API Gateway HTTP API request (payload format 2.0).
Before the process is killed, its peak resident memory (VmHWM) is read from /proc. The install
table lives in moto server, started here on a free port unless AWS_ENDPOINT_URL is already set.

Usage: cold_start.py [--runs 20] [--path /t/acme/apps/hello/send] [--method POST]
                     [--env K=V]... [--json] BINARY [BINARY...]
"""

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3

REPO = Path(__file__).resolve().parent.parent
TABLE = "cold-start-installs"
TIMEOUT_S = 10.0
API = "/2018-06-01/runtime"


class Run:
    """What one spawned process did on the Runtime API (perf_counter times)."""

    def __init__(self, name, method, path):
        self.name, self.method, self.path = name, method, path
        self.request_id = str(uuid.uuid4())
        self.lock = threading.Lock()
        self.handed_out = False
        self.init_at = self.answer_at = None
        self.answer = self.init_error = None
        self.answered = threading.Event()  # a response, an error or an init error arrived
        self.done = threading.Event()  # the process is gone: hanging `/next` calls return

    def event(self):
        now = time.time()
        route = re.sub(r"^/t/[^/]+", "/t/{tenant}", self.path)
        return {
            "version": "2.0",
            "routeKey": f"{self.method} {route}",
            "rawPath": self.path,
            "rawQueryString": "",
            "headers": {"content-type": "application/json", "host": "abc123.execute-api.us-east-1.amazonaws.com"},
            "requestContext": {
                "http": {"method": self.method, "path": self.path, "protocol": "HTTP/1.1",
                         "sourceIp": "192.0.2.1", "userAgent": "cold_start.py"},
                "requestId": self.request_id,
                "accountId": "123456789012",
                "apiId": "abc123",
                "stage": "$default",
                "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
                "timeEpoch": int(now * 1000),
                "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            },
            "body": "{}",
            "isBase64Encoded": False,
        }


class RuntimeApi(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # the runtime's client keeps its connection alive

    def log_message(self, *args):
        pass

    def body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while size := int(self.rfile.readline().split(b";")[0], 16):
                data += self.rfile.read(size)
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers
                pass
            return data
        return self.rfile.read(int(self.headers.get("Content-Length", 0)))

    def reply(self, status, payload=b"", headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self):
        now, run = time.perf_counter(), self.server.run
        if self.path != f"{API}/invocation/next":
            return self.reply(404)
        with run.lock:
            first = not run.handed_out
            run.handed_out = True
            if first:
                run.init_at = now
        if not first:  # one event per process: hang until it is killed
            run.done.wait()
            self.close_connection = True
            return
        self.reply(200, json.dumps(run.event()).encode(), [
            ("Content-Type", "application/json"),
            ("Lambda-Runtime-Aws-Request-Id", run.request_id),
            ("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 30_000)),
            ("Lambda-Runtime-Invoked-Function-Arn", f"arn:aws:lambda:us-east-1:123456789012:function:{run.name}"),
            ("Lambda-Runtime-Trace-Id", f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Sampled=0"),
        ])

    def do_POST(self):
        now, run = time.perf_counter(), self.server.run
        body = self.body()
        answer = re.fullmatch(f"{API}/invocation/([^/]+)/(response|error)", self.path)
        if answer:
            with run.lock:
                if run.answer_at is None:
                    run.answer_at, run.answer = now, (answer[2], body)
        elif self.path == f"{API}/init/error":
            run.init_error = body.decode(errors="replace")
        else:
            return self.reply(404)
        run.answered.set()
        self.reply(202, b'{"status":"OK"}', [("Content-Type", "application/json")])


class Server(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a killed runtime's socket
            super().handle_error(request, client_address)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_moto():
    exe = shutil.which("moto_server") or str(REPO / ".venv/bin/moto_server")
    port = free_port()
    proc = subprocess.Popen([exe, "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(f"{url}/moto-api/", timeout=1)
            return proc, url
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.2)
    proc.kill()
    sys.exit(f"moto server ({exe}) did not start on {url}")


def create_table(endpoint):
    """The install table, with template.yaml's InstallTable key schema."""
    ddb = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1",
                       aws_access_key_id="test", aws_secret_access_key="test")
    try:
        ddb.create_table(
            TableName=TABLE, BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                  {"AttributeName": "sk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                       {"AttributeName": "sk", "KeyType": "RANGE"}])
    except ddb.exceptions.ResourceInUseException:
        pass
    ddb.get_waiter("table_exists").wait(TableName=TABLE)


def vm_hwm_kb(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return None


def one_run(binary, args, endpoint):
    """One cold start, on a Runtime API of its own: a killed process's last `/next` can then
    never take the next process's event."""
    server = Server(("127.0.0.1", 0), RuntimeApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        return start_once(server, binary, args, endpoint)
    finally:
        server.shutdown()
        server.server_close()


def start_once(server, binary, args, endpoint):
    name = Path(binary).name
    run = server.run = Run(name, args.method, args.path)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{server.server_address[1]}",
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_STREAM_NAME": f"2024/01/01/[$LATEST]{uuid.uuid4().hex}",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_ENDPOINT_URL": endpoint,
        "TABLE_NAME": TABLE,
        "CLOUDAPPS_PUBLIC_URL": "https://cloudapps.example",
        **dict(kv.split("=", 1) for kv in args.env),
    }
    log = tempfile.TemporaryFile()
    start = time.perf_counter()
    proc = subprocess.Popen([binary], env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)  # its own process group: killed with any children

    def fail(why):
        log.seek(0)
        tail = log.read().decode(errors="replace")[-2000:]
        sys.exit(f"{name}: {why}; its output:\n{tail}")

    try:
        deadline = start + TIMEOUT_S
        while not run.answered.wait(0.02):
            if proc.poll() is not None:
                fail(f"exited with status {proc.returncode} before answering")
            if time.perf_counter() > deadline:
                fail(f"no answer within {TIMEOUT_S:.0f} s (handed out: {run.handed_out})")
        if run.init_error is not None:
            sys.exit(f"{name}: posted to /init/error: {run.init_error}")
        hwm = vm_hwm_kb(proc.pid)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
        run.done.set()
    kind, body = run.answer
    try:
        status = json.loads(body)["statusCode"] if kind == "response" else "error"
    except (ValueError, KeyError, TypeError):
        status = "?"
    return {"init_ms": (run.init_at - start) * 1000, "answer_ms": (run.answer_at - start) * 1000,
            "vm_hwm_mb": hwm / 1024 if hwm else None, "status": status,
            "answer": body.decode(errors="replace")}


def summary(binary, runs):
    init, answer = [r["init_ms"] for r in runs], [r["answer_ms"] for r in runs]
    hwm = [r["vm_hwm_mb"] for r in runs if r["vm_hwm_mb"] is not None]
    return {
        "binary": binary, "name": Path(binary).name, "runs": len(runs),
        "init_ms_median": statistics.median(init), "init_ms_min": min(init), "init_ms_max": max(init),
        "answer_ms_median": statistics.median(answer), "answer_ms_min": min(answer), "answer_ms_max": max(answer),
        "vm_hwm_mb_median": statistics.median(hwm) if hwm else None,
        "statuses": sorted({str(r["status"]) for r in runs}),
        "per_run": runs,
    }


def print_table(results):
    head = f"{'binary':<28} {'runs':>4} {'init ms':>8} {'min-max':>13} {'answer ms':>9} {'min-max':>13} {'VmHWM MB':>8}  status"
    print(head)
    print("-" * len(head))
    for s in results:
        hwm = f"{s['vm_hwm_mb_median']:.1f}" if s["vm_hwm_mb_median"] is not None else "?"
        print(f"{s['name']:<28} {s['runs']:>4} {s['init_ms_median']:>8.1f} "
              f"{s['init_ms_min']:>6.1f}-{s['init_ms_max']:<6.1f} {s['answer_ms_median']:>9.1f} "
              f"{s['answer_ms_min']:>6.1f}-{s['answer_ms_max']:<6.1f} {hwm:>8}  {','.join(s['statuses'])}")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--path", default="/t/acme/apps/hello/send")
    p.add_argument("--method", default="POST")
    p.add_argument("--env", action="append", default=[], metavar="K=V",
                   help="added to the function's environment (repeatable)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("binaries", nargs="+", metavar="BINARY")
    args = p.parse_args()
    for kv in args.env:
        if "=" not in kv:
            p.error(f"--env wants K=V, not {kv!r}")
    for b in args.binaries:
        if not os.access(b, os.X_OK):
            p.error(f"{b} is not an executable file")

    moto, endpoint = None, os.environ.get("AWS_ENDPOINT_URL")
    if not endpoint:
        moto, endpoint = start_moto()
    try:
        create_table(endpoint)
        results = [summary(b, [one_run(b, args, endpoint) for _ in range(args.runs)])
                   for b in args.binaries]
    finally:
        if moto:
            moto.terminate()
            moto.wait()
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print_table(results)


if __name__ == "__main__":
    main()
