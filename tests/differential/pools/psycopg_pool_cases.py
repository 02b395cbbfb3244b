#!/usr/bin/env python3
"""The pool cases of tests/integration/pool_kinds_test.cpp, run with the real
psycopg_pool (Debian's python3-psycopg-pool, 3.1) against a real server.

Usage: psycopg_pool_cases.py DSN ADMIN_DSN CASE APP
Prints one JSON object with the figures the test compares with pgleak's
model of the same pool (src/pool/psycopg_pool.hpp) on the same case.
"""
import json
import sys
import threading
import time

import psycopg
from psycopg_pool import ConnectionPool

dsn, admin_dsn, case, app = sys.argv[1:5]
admin = psycopg.connect(admin_dsn, autocommit=True)


def backends():
    """This application's backends on the server."""
    row = admin.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
                        (app,)).fetchone()
    return row[0]


def on_grid(start, step, n):
    """n counts of backends(), one per step after start (a monotonic time): a
    count that takes a while to read does not shift the ones after it."""
    counts = []
    for i in range(n):
        time.sleep(max(0.0, start + (i + 1) * step - time.monotonic()))
        counts.append(backends())
    return counts


def pool(**kwargs):
    return ConnectionPool(dsn, kwargs={"application_name": app}, **kwargs)


def fill():
    # min_size 3 of max_size 5: opened at start, before anyone asks.
    p = pool(min_size=3, max_size=5)
    time.sleep(1.0)
    out = {"backends": backends()}
    p.close()
    return out


def exhaust():
    p = pool(min_size=2, max_size=2, timeout=0.5)
    held = [p.getconn(), p.getconn()]
    t0 = time.monotonic()
    try:
        p.getconn()
        message = None
    except Exception as e:  # PoolTimeout
        message = str(e)
    waited = (time.monotonic() - t0) * 1000
    for c in held:
        p.putconn(c)
    p.close()
    return {"message": message, "waited_ms": round(waited), "backends_max": 2}


def killed():
    p = pool(min_size=1, max_size=1)
    c = p.getconn()
    first = c.info.backend_pid
    p.putconn(c)
    admin.execute("SELECT pg_terminate_backend(%s)", (first,))
    time.sleep(0.7)
    c = p.getconn()
    try:
        c.execute("SELECT 1")
        seen = "ok"
        sqlstate = None
    except psycopg.Error as e:
        seen = "error"
        sqlstate = e.sqlstate
    p.putconn(c)
    c = p.getconn(timeout=5)
    c.execute("SELECT 1")
    replaced = c.info.backend_pid != first
    p.putconn(c)
    p.close()
    return {"first_use": seen, "sqlstate": sqlstate, "then_replaced": replaced}


def refused():
    # The role may not log in: every connect is refused (53300).
    p = pool(min_size=1, max_size=1, timeout=1.0)
    t0 = time.monotonic()
    try:
        p.getconn()
        message = None
    except Exception as e:
        message = str(e)
    waited = (time.monotonic() - t0) * 1000
    p.close(timeout=0)
    return {"message": message, "waited_ms": round(waited)}


def shrink():
    # Grown to 3 by clients waiting together, then idle: one closes per
    # max_idle while more than min_size are open.
    p = pool(min_size=1, max_size=3, max_idle=1.0)
    p.wait()
    held = []
    lock = threading.Lock()

    def take():
        c = p.getconn(timeout=5)
        with lock:
            held.append(c)

    threads = [threading.Thread(target=take) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    grown = backends()
    for c in held:
        p.putconn(c)
    counts = on_grid(time.monotonic(), 0.25, 14)
    p.close()
    return {"grown": grown, "counts": counts}


def lifetime():
    # max_lifetime is looked at on return only.
    p = pool(min_size=1, max_size=1, max_lifetime=0.5)
    c = p.getconn()
    first = c.info.backend_pid
    p.putconn(c)
    time.sleep(0.7)
    c = p.getconn()
    same_after_expiry = c.info.backend_pid == first
    p.putconn(c)
    c = p.getconn(timeout=5)
    replaced_after_return = c.info.backend_pid != first
    p.putconn(c)
    p.close()
    return {"same_after_expiry": same_after_expiry, "replaced_after_return": replaced_after_return}


print(json.dumps(globals()[case]()))
