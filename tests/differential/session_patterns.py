#!/usr/bin/env python3
"""The session patterns of pgleak, written as the SQLAlchemy application each
one stands for, run against a real server with SQLAlchemy and psycopg2.

Usage: session_patterns.py DSN CASE
Prints one JSON object: the backends of this application by state, taken
after every worker has done its units of work and while its sessions are
still referenced (as in pgleak's final sample), the pool's checkedout(), and
the texts of the DBAPI errors the application caught (psycopg2's, as
SQLAlchemy wraps them).

tests/integration/differential_test.cpp runs each CASE here and the same
case with pgleak, and compares the two pictures.
"""
import gc
import json
import sys
import threading
import time

import psycopg2
from sqlalchemy import create_engine, text
from sqlalchemy.orm import sessionmaker

dsn, case = sys.argv[1], sys.argv[2]
UNITS = 2
WORKERS = {"close_after_idle_timeout": 12}.get(case, 3)
APP = "differential-" + case
# The server ends a session idle in transaction this long (ms), as the scenario's
# connect.idle_in_transaction_session_timeout does.
OPTIONS = {"close_after_idle_timeout": "-c idle_in_transaction_session_timeout=200"}.get(case, "")
if case.startswith("drop_"):
    gc.disable()  # the scenario's "gc": "never": only gc.collect() collects

engine = create_engine("postgresql+psycopg2://", creator=lambda: psycopg2.connect(
    dsn, application_name=APP, options=OPTIONS), pool_size=5, max_overflow=10, pool_timeout=5)
SessionLocal = sessionmaker(bind=engine)
kept = []  # sessions the application still references at the end
errors = []  # the texts of the DBAPI errors the application caught
lock = threading.Lock()


def keep(session):
    with lock:
        kept.append(session)


def caught(e):
    with lock:
        errors.append(str(getattr(e, "orig", e)).rstrip("\n"))


def scoped():
    for _ in range(UNITS):
        db = SessionLocal()
        try:
            db.execute(text("SELECT 1"))
            db.commit()
        except Exception:
            db.rollback()
            raise
        finally:
            db.close()


def held_by_object(commit=False, run_query=True):
    db = SessionLocal()  # Driver.__init__: self.db = next(get_db())
    keep(db)
    for _ in range(UNITS):
        if run_query:
            db.execute(text("SELECT 1"))
            if commit:
                db.commit()


def outside_loop(commit=False):
    db = SessionLocal()
    keep(db)
    for _ in range(UNITS):
        db.execute(text("SELECT 1"))
        if commit:
            db.commit()


GLOBAL = None


def global_session(commit=False):
    global GLOBAL
    for _ in range(UNITS):
        with lock:
            if GLOBAL is None:
                GLOBAL = SessionLocal()
                kept.append(GLOBAL)
            GLOBAL.execute(text("SELECT 1"))
            if commit:
                GLOBAL.commit()


def leak_on_error():
    for _ in range(UNITS):
        db = SessionLocal()
        try:
            db.execute(text("SELECT 1"))
            db.execute(text("SELECT 1/0"))
            db.commit()
            db.close()
        except Exception as e:
            caught(e)
            keep(db)  # close() was not in finally: the session stays referenced


OLD_POOLS = []
disposed = threading.Barrier(WORKERS)
leaked = threading.Barrier(WORKERS)


def engine_dispose():
    """Each worker leaks a session; once all three have, one of them calls
    engine.dispose(), and each then leaks another on the new pool."""
    first = SessionLocal()
    first.execute(text("SELECT 1"))
    keep(first)
    if leaked.wait() == 0:
        OLD_POOLS.append(engine.pool)
        engine.dispose()
    disposed.wait()
    second = SessionLocal()
    second.execute(text("SELECT 1"))
    keep(second)


def close_after_idle_timeout():
    """A session opened in a constructor sits idle in transaction until the
    server ends it (25P03); close() then raises, and the session works again."""
    db = SessionLocal()
    db.execute(text("SELECT 1"))
    time.sleep(0.6)
    try:
        db.close()
    except Exception as e:
        caught(e)
    try:
        db.execute(text("SELECT 1"))
        db.commit()
    except Exception as e:
        caught(e)
    finally:
        db.close()


def drop_in_transaction(commit=False):
    """del db, and a name bound anew, with the collector off: a Session whose
    transaction is open is kept by its reference cycle; one without is freed."""
    db = SessionLocal()
    db.execute(text("SELECT 1"))
    if commit:
        db.commit()
    del db
    db = SessionLocal()
    db.execute(text("SELECT 1"))
    if commit:
        db.commit()
    db = SessionLocal()  # rebinding drops the second


CASES = {
    "scoped": scoped,
    "held_by_object": held_by_object,
    "held_by_object_commit": lambda: held_by_object(commit=True),
    "held_by_object_unused": lambda: held_by_object(run_query=False),
    "outside_loop": outside_loop,
    "outside_loop_commit": lambda: outside_loop(commit=True),
    "global_session": global_session,
    "global_session_commit": lambda: global_session(commit=True),
    "leak_on_error": leak_on_error,
    "engine_dispose": engine_dispose,
    "close_after_idle_timeout": close_after_idle_timeout,
    "drop_in_transaction": drop_in_transaction,
    "drop_after_commit": lambda: drop_in_transaction(commit=True),
    "drop_then_collect": drop_in_transaction,  # and gc.collect() once all have dropped
}

threads = [threading.Thread(target=CASES[case]) for _ in range(WORKERS)]
for t in threads:
    t.start()
for t in threads:
    t.join()
if case == "drop_then_collect":
    gc.collect()

admin = psycopg2.connect(dsn, application_name="differential-admin")
admin.autocommit = True
cur = admin.cursor()
cur.execute("SELECT coalesce(state, 'unknown'), count(*) FROM pg_stat_activity "
            "WHERE application_name = %s GROUP BY 1", (APP,))
by_state = {state: n for state, n in cur.fetchall()}
checked_out = engine.pool.checkedout()
if OLD_POOLS:
    # A disposed pool resets its own count (QueuePool.dispose() sets _overflow
    # to -size), so count the sessions that still hold a connection instead.
    checked_out = sum(1 for s in kept if s.in_transaction())
print(json.dumps({"case": case, "by_state": by_state, "checked_out": checked_out,
                  "errors": sorted(errors)}))
for s in kept:
    s.close()
engine.dispose()
