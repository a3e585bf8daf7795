#!/usr/bin/env python3
"""whrecv.py — an independent webhook receiver and verifier for the tests.

It shares no code with acmectl: Python's http.server receives, its hmac and
base64 modules verify, so a signature acmectl computes wrongly cannot be
"verified" by the same mistake.

  whrecv.py serve --port-file F --log F [--script 500,500,200] [--delay S]
                  [--hold-file F] [--retry-after N] [--location URL]
      Answer POSTs in turn with the statuses of --script (the last one
      repeats), after --delay seconds, and with --hold-file only once that
      file exists (at most 300 s: a test that never releases still ends);
      log each request as one JSON line when it arrives:
      {"n", "t", "path", "headers" (lower-case names), "body_b64", "status",
       "open"}, where "open" counts the requests received and not yet being
      answered, this one included: the most a sender had in flight at once is
      the highest "open" (a request stops counting before its answer is sent,
      so a sender cannot have sent the next one yet).

  whrecv.py verify --log F --secret S [--secret S2 ...] [--each]
      Every logged request must carry a v1 signature of
      "<webhook-id>.<webhook-timestamp>.<body>" under one of the secrets
      (with --each: under every one of them). Prints the number verified;
      exit 1 naming the first request that does not verify.

  whrecv.py send --url U --secret S --id ID --body B [--timestamp T]
      POST a body signed like a Standard Webhooks sender; print the status.
"""
import argparse
import base64
import hashlib
import hmac
import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def key_of(secret):
    s = secret.strip()
    if s.startswith("whsec_"):
        s = s[len("whsec_"):]
    return base64.b64decode(s, validate=True)


def sign(secret, msg_id, ts, body):
    mac = hmac.new(key_of(secret), msg_id.encode() + b"." + str(ts).encode() + b"." + body,
                   hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def serve(args):
    script = [int(x) for x in args.script.split(",")] if args.script else [200]
    lock = threading.Lock()
    state = {"n": 0, "open": 0}
    log = open(args.log, "a", buffering=1)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def do_POST(self):
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            with lock:
                state["n"] += 1
                state["open"] += 1
                n = state["n"]
                status = script[min(n, len(script)) - 1]
                log.write(json.dumps({
                    "n": n, "t": time.time(), "path": self.path,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body_b64": base64.b64encode(body).decode(), "status": status,
                    "open": state["open"]}) + "\n")
            if args.delay:
                time.sleep(args.delay)
            if args.hold_file:
                deadline = time.monotonic() + 300
                while not os.path.exists(args.hold_file) and time.monotonic() < deadline:
                    time.sleep(0.05)
            with lock:
                state["open"] -= 1
            reply = ("answer %d to request %d\n" % (status, n)).encode()
            self.send_response(status)
            if args.retry_after is not None and status >= 300:
                self.send_header("Retry-After", str(args.retry_after))
            if args.location and 300 <= status < 400:
                self.send_header("Location", args.location)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        allow_reuse_address = True

    srv = Server((args.bind, args.port), Handler)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(tmp, args.port_file)
    srv.serve_forever()


def verify(args):
    n = 0
    with open(args.log) as f:
        for line in f:
            r = json.loads(line)
            h = r["headers"]
            body = base64.b64decode(r["body_b64"])
            given = h.get("webhook-signature", "").split()
            want = [sign(s, h.get("webhook-id", ""), h.get("webhook-timestamp", ""), body)
                    for s in args.secret]
            ok = [any(hmac.compare_digest(w, g) for g in given) for w in want]
            if not (all(ok) if args.each else any(ok)):
                print("request %d does not verify: headers %s" % (r["n"], h), file=sys.stderr)
                sys.exit(1)
            n += 1
    print(n)


def send(args):
    ts = args.timestamp if args.timestamp is not None else int(time.time())
    body = args.body.encode()
    req = urllib.request.Request(args.url, data=body, method="POST", headers={
        "content-type": "application/json", "webhook-id": args.id,
        "webhook-timestamp": str(ts),
        "webhook-signature": sign(args.secret, args.id, ts, args.sign_body.encode()
                                  if args.sign_body is not None else body)})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            print(resp.status)
    except urllib.error.HTTPError as e:
        print(e.code)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--port-file", required=True)
    s.add_argument("--log", required=True)
    s.add_argument("--bind", default="127.0.0.1")
    s.add_argument("--port", type=int, default=0)
    s.add_argument("--script")
    s.add_argument("--delay", type=float, default=0)
    s.add_argument("--hold-file")
    s.add_argument("--retry-after", type=int)
    s.add_argument("--location")
    v = sub.add_parser("verify")
    v.add_argument("--log", required=True)
    v.add_argument("--secret", action="append", required=True)
    v.add_argument("--each", action="store_true")
    c = sub.add_parser("send")
    c.add_argument("--url", required=True)
    c.add_argument("--secret", required=True)
    c.add_argument("--id", required=True)
    c.add_argument("--body", required=True)
    c.add_argument("--sign-body")
    c.add_argument("--timestamp", type=int)
    a = p.parse_args()
    {"serve": serve, "verify": verify, "send": send}[a.cmd](a)


if __name__ == "__main__":
    main()
