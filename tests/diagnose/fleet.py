#!/usr/bin/env python3
"""Three real SQLAlchemy applications against one server, for the diagnose
test (tests/integration/diagnose_test.cpp):

  billing  one process that opens a session outside its loop every second,
           six in all, runs a query in each and never commits or closes
           them: six connections idle in transaction, each only ageing;
  router   a launcher that starts the same worker four times, 1.5 s apart;
           each worker's engine (pool_size=3, max_overflow=0) has three
           threads check a connection out at once and give it back, then
           idles: four pools of three idle connections;
  api      one process whose two threads do a unit of work every 50 ms in a
           session closed in finally: healthy.

Usage: fleet.py DSN
Prints "ready" (on stderr) once every application holds what it will hold, then waits
until SIGTERM, which ends every process it started.
"""
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time

import psycopg2
from sqlalchemy import create_engine, text
from sqlalchemy.orm import sessionmaker

DSN = sys.argv[1]


def die_with_parent():
    # In the child before it runs: SIGTERM ends it (the launcher's block on it
    # is not inherited), and so does its parent's death (PR_SET_PDEATHSIG).
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


def engine(app, **pool):
    return create_engine("postgresql+psycopg2://", creator=lambda: psycopg2.connect(
        DSN, application_name=app), **pool)


def billing():
    Session = sessionmaker(bind=engine("billing", pool_size=10, max_overflow=0))
    held = []
    for _ in range(6):
        db = Session()  # the session made outside the loop, never closed
        db.execute(text("SELECT 1"))
        held.append(db)
        time.sleep(1)
    print("billing ready", flush=True)
    while True:
        time.sleep(3600)


def router_worker():
    Session = sessionmaker(bind=engine("router", pool_size=3, max_overflow=0))

    def unit():
        db = Session()
        try:
            db.execute(text("SELECT 1"))
            time.sleep(0.3)  # all three are checked out at once
            db.commit()
        finally:
            db.close()

    threads = [threading.Thread(target=unit) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("router worker ready", flush=True)
    while True:
        time.sleep(3600)


def router():
    workers = []
    for i in range(4):
        workers.append(subprocess.Popen([sys.executable, __file__, DSN, "router-worker"],
                                        preexec_fn=die_with_parent, stdout=subprocess.PIPE,
                                        text=True))
        if workers[-1].stdout.readline().strip() != "router worker ready":
            sys.exit(1)
        if i < 3:
            time.sleep(1.5)
    print("router ready", flush=True)
    while True:  # SIGTERM ends it, and its workers with it (die_with_parent)
        time.sleep(3600)


def api():
    Session = sessionmaker(bind=engine("api", pool_size=5, max_overflow=10))

    def loop():
        while True:
            db = Session()
            try:
                db.execute(text("SELECT 1"))
                db.commit()
            finally:
                db.close()
            time.sleep(0.05)

    for _ in range(2):
        threading.Thread(target=loop, daemon=True).start()
    print("api ready", flush=True)
    while True:
        time.sleep(3600)


def main():
    role = sys.argv[2] if len(sys.argv) > 2 else "launcher"
    if role != "launcher":
        {"billing": billing, "router": router, "router-worker": router_worker,
         "api": api}[role]()
        return
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    apps = [subprocess.Popen([sys.executable, __file__, DSN, name], preexec_fn=die_with_parent,
                             stdout=subprocess.PIPE, text=True)
            for name in ("api", "router", "billing")]
    for name, a in zip(("api", "router", "billing"), apps):
        if a.stdout.readline().strip() != name + " ready":
            print(name + " did not start", file=sys.stderr, flush=True)
            for b in apps:
                b.terminate()
            sys.exit(1)
    print("ready", file=sys.stderr, flush=True)
    signal.sigwait({signal.SIGTERM})
    for a in apps:
        a.terminate()
    for a in apps:
        a.wait()


if __name__ == "__main__":
    main()
