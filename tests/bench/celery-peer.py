#!/usr/bin/env python3
"""celery-peer.py - Celery's figure beside acmectl's in tests/bench/queue.sh.

    python3 tests/bench/celery-peer.py --sock REDIS_SOCK [--jobs N]
        [--concurrency 1,2] [--db 1] [--log-dir DIR] [--timeout 120]

Measures the same thing as queue.sh's --no-mirror runs, with Celery: N noop
tasks through a Celery worker (prefork pool, one run per --concurrency) on
the same Redis, over its unix socket (broker redis+socket://SOCK, in its own
database, --db, so acmectl's keys in db 0 are never touched). tasks/s is
the time from the first enqueue to the last task finished.

- The worker is `<this python3> -m celery -A celery-peer worker --pool prefork
  --concurrency C --without-gossip --without-mingle --without-heartbeat`,
  started as a subprocess (its own process group, killed on every exit
  path) before the clock starts; it announces itself ready (worker_ready
  sets a key) and only then are the tasks enqueued, one apply_async each on
  one producer connection, while the worker runs. Prefetch multiplier and
  acks are Celery's defaults (a task is acked just before it runs, not after).
- No result backend (task_ignore_result): nothing is stored per task, as
  with acmectl --no-mirror. To know when the last task has finished the
  noop INCRs a counter in the same Redis database (one round trip per task,
  through redis-py, which Celery's Redis transport needs anyway); the
  driver polls it every 5 ms and fails if not all N arrive within
  --timeout seconds of the last enqueue.
- The worker must stop on SIGTERM (warm shutdown) within 30 s.

Prints one line per concurrency, e.g.
    celery 5.2.6 prefork, 2 processes, no result backend: X tasks/s  (T s, enqueue E/s)
and exits non-zero with a message on any failure. Needs python3-celery and
python3-redis (Debian: python3-redis is only suggested by python3-celery).
The worker process imports this file as the module "celery-peer" (the
broker's socket and database come from the environment it is given).
"""
import os
import signal
import subprocess
import sys
import time

from celery import Celery, __version__ as celery_version
from celery.signals import worker_ready

SOCK = os.environ.get("CELERY_PEER_SOCK", "")
DB = int(os.environ.get("CELERY_PEER_DB", "1"))
QUEUE = "celery-peer"
DONE_KEY = "celery-peer:done"
READY_KEY = "celery-peer:ready"

app = Celery("celery-peer")
app.conf.update(
    broker_url="redis+socket://%s?virtual_host=%d" % (SOCK, DB),
    result_backend=None,
    task_ignore_result=True,
    task_default_queue=QUEUE,
    task_serializer="json",
    accept_content=["json"],
    worker_hijack_root_logger=False,
)

_redis = None


def redis_client():
    """One redis-py client per process (each prefork child makes its own)."""
    global _redis
    if _redis is None:
        import redis
        _redis = redis.Redis(unix_socket_path=SOCK, db=DB)
    return _redis


@app.task(name="noop", ignore_result=True)
def noop():
    redis_client().incr(DONE_KEY)
    return None


@worker_ready.connect
def _ready(**_):
    redis_client().set(READY_KEY, os.getpid())


class Failed(Exception):
    pass


def tail(path, n=20):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return "(no log)"


def stop(proc, grace):
    """SIGTERM the worker's process group, SIGKILL it after grace seconds;
    returns the worker's exit status (None if it had to be killed)."""
    if proc.poll() is not None:
        return proc.returncode
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        return proc.wait(grace)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()
    return None


def run(n, conc, log_dir, timeout):
    r = redis_client()
    r.delete(DONE_KEY, READY_KEY, QUEUE)
    log = os.path.join(log_dir, "celery-worker-%d.log" % conc)
    env = dict(os.environ, CELERY_PEER_SOCK=SOCK, CELERY_PEER_DB=str(DB),
               PYTHONDONTWRITEBYTECODE="1",
               PYTHONPATH=os.pathsep.join(
                   [os.path.dirname(os.path.abspath(__file__))] +
                   [p for p in [os.environ.get("PYTHONPATH")] if p]))
    with open(log, "w") as lf:
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "celery-peer", "worker",
             "--pool", "prefork", "--concurrency", str(conc), "-Q", QUEUE,
             "--without-gossip", "--without-mingle", "--without-heartbeat",
             "--loglevel=warning", "--hostname", "celery-peer-%d@%%h" % conc],
            stdin=subprocess.DEVNULL, stdout=lf, stderr=subprocess.STDOUT,
            cwd=log_dir, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not r.exists(READY_KEY):
            if proc.poll() is not None:
                raise Failed("the worker exited %d before it was ready:\n%s"
                             % (proc.returncode, tail(log)))
            if time.monotonic() > deadline:
                raise Failed("the worker was not ready within 60 s:\n%s" % tail(log))
            time.sleep(0.05)

        t0 = time.perf_counter()
        with app.producer_or_acquire() as producer:
            for _ in range(n):
                noop.apply_async(producer=producer)
        t_enq = time.perf_counter()
        deadline = time.monotonic() + timeout
        while True:
            done = int(r.get(DONE_KEY) or 0)
            if done >= n:
                break
            if proc.poll() is not None:
                raise Failed("the worker exited %d with %d of %d tasks done:\n%s"
                             % (proc.returncode, done, n, tail(log)))
            if time.monotonic() > deadline:
                raise Failed("%d of %d tasks done %g s after the last enqueue:\n%s"
                             % (done, n, timeout, tail(log)))
            time.sleep(0.005)
        t1 = time.perf_counter()
        if done != n:
            raise Failed("%d tasks done for %d enqueued" % (done, n))
    finally:
        st = stop(proc, 30)
    if st != 0:
        raise Failed("the worker did not exit 0 after SIGTERM (%s):\n%s"
                     % ("killed after 30 s" if st is None else "exit %d" % st, tail(log)))
    left = r.llen(QUEUE)
    r.delete(DONE_KEY, READY_KEY, QUEUE)
    if left:
        raise Failed("%d messages left in the queue after every task ran" % left)
    print("celery %s prefork, %d process%s, no result backend: %.0f tasks/s"
          "  (%.2f s, enqueue %.0f/s)" % (
              celery_version, conc, "" if conc == 1 else "es", n / (t1 - t0),
              t1 - t0, n / (t_enq - t0)), flush=True)


def main():
    import argparse
    import tempfile
    global SOCK, DB
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sock", required=True, help="Redis unix socket")
    ap.add_argument("--jobs", type=int, default=20000)
    ap.add_argument("--concurrency", default="1,2")
    ap.add_argument("--db", type=int, default=1, help="Redis database (not acmectl's)")
    ap.add_argument("--log-dir", help="where the worker logs go (default: a temporary dir)")
    ap.add_argument("--timeout", type=float, default=120)
    a = ap.parse_args()
    SOCK, DB = a.sock, a.db
    app.conf.broker_url = "redis+socket://%s?virtual_host=%d" % (SOCK, DB)
    # SIGTERM/SIGINT/SIGHUP unwind through the finally blocks that stop the worker
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, lambda signum, _f: sys.exit(128 + signum))
    log_dir = a.log_dir or tempfile.mkdtemp(prefix="celery-peer.")
    try:
        for c in (int(x) for x in a.concurrency.split(",")):
            run(a.jobs, c, log_dir, a.timeout)
    except Failed as e:
        sys.exit("celery-peer.py: %s" % e)
    except Exception as e:  # redis down, bad URL...: say so in one line
        sys.exit("celery-peer.py: %s: %s" % (type(e).__name__, e))


if __name__ == "__main__":
    main()
