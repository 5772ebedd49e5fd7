"""The background daemon, by role.

``loop`` (``Daemon``: lifecycle, events, what to read when) drives
``capture`` (reads and records), over ``schedule`` (folders due, and when),
``roots`` (watch modes, polling, rescan backoff) and ``database`` (the index
file's health and rebuilds); ``status`` holds what is wrong and the one
status report. ``watcher`` turns inotify into queued events, ``lock`` keeps
one daemon per index, ``control`` starts and stops it from another process,
``service`` installs it as a systemd user service, ``fsinfo`` tells which
filesystems need polling and ``logsetup`` sets up its log.
"""
