"""The background daemon, by role.

``loop`` (``Daemon``: lifecycle, events, what to read when) drives
``capture`` (reads and records), over ``schedule`` (folders due, and when;
the periodic roles), ``settle`` (files without a close-after-write),
``roots`` (watch modes, polling, rescan backoff) and ``database`` (the index
file's health and rebuilds); ``status`` holds what is wrong and the one
status report. ``watch`` turns filesystem notices into queued events
(backends: inotify, watchdog's observer, polling), ``lock`` keeps one daemon
per index, ``control`` starts and stops it from another process, ``service``
installs it as a user service (``systemd`` on Linux, ``launchd`` on macOS),
``fsinfo`` tells which filesystems need polling, ``procstats`` reads what
/proc says of a daemon (for tests and the benchmark) and ``logsetup`` sets
up its log.
"""
