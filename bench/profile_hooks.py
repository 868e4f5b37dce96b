"""gunicorn hooks for `python -m bench.verify_profile` (``--config python:bench.profile_hooks``): every
request thread of a gthread worker profiles its own requests with cProfile, on that thread's CPU clock
(``time.thread_time``: waiting for Postgres, for the GIL or for the network costs nothing), from reading
the request off the socket to the access log line; the worker writes the merged profile to
``$PROFILE_OUT.<pid>`` when it exits. Not for production: cProfile roughly doubles the CPU of a request."""

from __future__ import annotations

import cProfile
import os
import pstats
import threading
import time

_local = threading.local()
_profiles: list[cProfile.Profile] = []
_lock = threading.Lock()


def post_fork(server, worker):
    from gunicorn.workers import gthread

    original = gthread.ThreadWorker.handle

    def handle(self, conn):
        profile = getattr(_local, "profile", None)
        if profile is None:
            profile = _local.profile = cProfile.Profile(time.thread_time)
            with _lock:
                _profiles.append(profile)
        profile.enable()
        try:
            return original(self, conn)
        finally:
            profile.disable()

    gthread.ThreadWorker.handle = handle


def worker_exit(server, worker):
    with _lock:
        profiles = list(_profiles)
    stats = None
    for profile in profiles:
        profile.disable()
        try:
            stats = pstats.Stats(profile) if stats is None else stats.add(profile)
        except TypeError:  # a thread that never finished a request: nothing recorded
            continue
    if stats is not None:
        stats.dump_stats(f"{os.environ['PROFILE_OUT']}.{os.getpid()}")
