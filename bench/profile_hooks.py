"""gunicorn hooks for `python -m bench.verify_profile` (``--config python:bench.profile_hooks``): every
request thread of a gthread worker profiles its own requests with cProfile, on that thread's CPU clock
(``time.thread_time``: waiting for Postgres, for the GIL or for the network costs nothing), from reading
the request off the socket to the access log line; the worker writes the merged profiles to
``$PROFILE_OUT.<requests|writer>.<pid>`` when it exits. Not for production: cProfile roughly doubles the CPU of a request."""

from __future__ import annotations

import cProfile
import os
import pstats
import threading
import time

_local = threading.local()
_profiles: list[tuple[str, cProfile.Profile]] = []
_lock = threading.Lock()


def _profiled(original, kind: str):
    def run(*args, **kwargs):
        profile = getattr(_local, "profile", None)
        if profile is None:
            profile = _local.profile = cProfile.Profile(time.thread_time)
            with _lock:
                _profiles.append((kind, profile))
        profile.enable()
        try:
            return original(*args, **kwargs)
        finally:
            profile.disable()

    return run


def post_fork(server, worker):
    from gunicorn.workers import gthread

    from app.services.verifylog import VerificationLog

    gthread.ThreadWorker.handle = _profiled(gthread.ThreadWorker.handle, "requests")
    VerificationLog.flush = _profiled(VerificationLog.flush, "writer")  # the log's writer thread


def worker_exit(server, worker):
    with _lock:
        profiles = list(_profiles)
    merged: dict[str, pstats.Stats] = {}
    for kind, profile in profiles:
        profile.disable()
        try:
            merged[kind] = pstats.Stats(profile) if kind not in merged else merged[kind].add(profile)
        except TypeError:  # a thread that never finished a request: nothing recorded
            continue
    for kind, stats in merged.items():
        stats.dump_stats(f"{os.environ['PROFILE_OUT']}.{kind}.{os.getpid()}")
