#!/usr/bin/env python3
"""rawhttp.py — misbehaving and well-behaved HTTP clients for testing
`acmectl webhooks listen` (core/httpd.c) at the socket level.

Nothing here measures time: each command waits for a condition (the server
closes, answers) and gives up after a generous bound, then says what it saw.

  rawhttp.py trickle --port P [--every S] [--give-up S]
      Start a request and send its head one byte every S seconds (default
      0.2), never finishing it. Prints "closed <status line or -> after
      <n> bytes" once the server closes the connection, or "open" and exits
      1 when it is still open after --give-up seconds (default 30).

  rawhttp.py cap --port P --max N [--give-up S]
      Open N idle connections (the cap), then: a connection beyond the cap
      ("over: <status line> closed"), a request on one of the idle ones
      ("held: <status>"), close another one and make requests on new
      connections until one is answered 200 or --give-up passes
      ("freed: <status>"). One line each.

  rawhttp.py send --port P --header 'Name: value'... [--hex]
      One POST with these header lines (--hex: each given as hex bytes);
      prints the status code.
"""
import argparse
import select
import socket
import sys
import time

REQ = b"POST /slow HTTP/1.1\r\nHost: x\r\n"


def status_line(data):
    return data.split(b"\r\n", 1)[0].decode("latin-1") if data else "-"


def read_until_closed(s, give_up):
    """Everything the server sends until it closes; None if it stays open."""
    end = time.monotonic() + give_up
    got = b""
    while time.monotonic() < end:
        r, _, _ = select.select([s], [], [], 0.1)
        if r:
            try:
                chunk = s.recv(4096)
            except ConnectionResetError:
                return got
            if not chunk:
                return got
            got += chunk
    return None


def trickle(args):
    s = socket.create_connection(("127.0.0.1", args.port))
    s.sendall(REQ + b"X-Slow: ")
    end = time.monotonic() + args.give_up
    sent = len(REQ) + 8
    answer = b""
    while time.monotonic() < end:
        try:
            s.send(b"a")
            sent += 1
        except (BrokenPipeError, ConnectionResetError):
            print("closed %s after %d bytes" % (status_line(answer), sent))
            return 0
        r, _, _ = select.select([s], [], [], args.every)
        if r:
            try:
                chunk = s.recv(4096)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                print("closed %s after %d bytes" % (status_line(answer), sent))
                return 0
            answer += chunk
    print("open after %d bytes" % sent)
    return 1


def request(port, give_up, s=None):
    """One small request; its status line, or "-" when none came."""
    own = s is None
    if own:
        s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"POST /ok HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
    end = time.monotonic() + give_up
    got = b""
    while b"\r\n" not in got and time.monotonic() < end:
        r, _, _ = select.select([s], [], [], 0.1)
        if r:
            try:
                chunk = s.recv(4096)
            except ConnectionResetError:
                break
            if not chunk:
                break
            got += chunk
    if own:
        s.close()
    return status_line(got)


def cap(args):
    held = [socket.create_connection(("127.0.0.1", args.port)) for _ in range(args.max)]
    over = socket.create_connection(("127.0.0.1", args.port))
    got = read_until_closed(over, args.give_up)
    print("over: %s" % ("still open" if got is None else status_line(got) + " closed"))
    over.close()
    print("held: %s" % request(args.port, args.give_up, held[0]))
    held[1].close()
    end = time.monotonic() + args.give_up
    answer = "-"
    while time.monotonic() < end:
        answer = request(args.port, args.give_up)
        if " 200 " in answer:
            break
        time.sleep(0.05)
    print("freed: %s" % answer)
    for s in held:
        s.close()
    return 0


def send(args):
    s = socket.create_connection(("127.0.0.1", args.port))
    lines = b"".join((bytes.fromhex(h) if args.hex else h.encode()) + b"\r\n" for h in args.header)
    s.sendall(b"POST /h HTTP/1.1\r\nHost: x\r\n" + lines + b"Content-Length: 2\r\n\r\n{}")
    got = b""
    end = time.monotonic() + 30
    while b"\r\n" not in got and time.monotonic() < end:
        chunk = s.recv(4096)
        if not chunk:
            break
        got += chunk
    print(status_line(got).split(" ")[1] if got else "-")
    return 0


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("trickle")
    t.add_argument("--port", type=int, required=True)
    t.add_argument("--every", type=float, default=0.2)
    t.add_argument("--give-up", type=float, default=30)
    c = sub.add_parser("cap")
    c.add_argument("--port", type=int, required=True)
    c.add_argument("--max", type=int, required=True)
    c.add_argument("--give-up", type=float, default=30)
    s = sub.add_parser("send")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--header", action="append", default=[])
    s.add_argument("--hex", action="store_true")
    args = ap.parse_args()
    return {"trickle": trickle, "cap": cap, "send": send}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
