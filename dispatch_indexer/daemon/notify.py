"""The notifier: tells people when a dispatch reaches a status they asked
about (``[[notify]]`` in config.toml, ``notifications``).

A role beside the daemon's loop, on threads of its own, so that a slow or
failing command or URL never stops or slows the loop: the loop only calls
``wake()`` after a write commits, which sets a flag. The notifier's feed
thread then reads what changed since its mark (``store.changes``), claims
each (notifier, dispatch, status) once in the index (``store.notified``),
and hands it to that notifier's sender thread. A claim is marked sent once
delivered; one left pending by a stop is sent by the next daemon.

History, what the first scan finds (dispatches that finished while no
daemon ran), is sent only to notifiers with ``on_history = true``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from ..errors import NotFoundError
from ..index import DispatchIndex
from ..notifications import NotifyConfig
from ..records import DispatchRecord
from ..store.changes import Follower
from .status import utcnow_iso

log = logging.getLogger(__name__)

# How often the feed is read even without a wake-up: writes by another
# process (a second host's daemon on PostgreSQL, a `scan`) have none.
POLL_SECONDS = 2.0
# A URL that fails is tried again after these pauses, then left pending.
URL_BACKOFF = (0.5, 1.0, 2.0, 4.0)
# A stop waits this long for what is being sent; the rest stays pending.
STOP_GRACE = 5.0
ERROR_CHARS = 300


class Sender:
    """One notifier's deliveries, one at a time on its own thread."""

    def __init__(
        self,
        config: NotifyConfig,
        log_book: Any,
        connection: Callable[[], contextlib.AbstractContextManager[None]],
        stopping: threading.Event,
    ) -> None:
        self.config = config
        self.key = config.key
        self.queue: queue.Queue[tuple[DispatchRecord, str] | None] = queue.Queue()
        self.log_book = log_book
        self.connection = connection
        self.stopping = stopping
        self.sent = 0
        self.last_sent_at: str | None = None
        self.last_error: str | None = None
        self.last_error_at: str | None = None
        self.thread = threading.Thread(target=self._run, name=f"notify-{self.key}", daemon=True)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.key,
            "what": self.config.describe(),
            "sent": self.sent,
            "queued": self.queue.qsize(),
            "last_sent_at": self.last_sent_at,
            "last_error": self.last_error,
            "last_error_at": self.last_error_at,
        }

    def _run(self) -> None:
        while True:
            item = self.queue.get()
            if item is None:
                return
            record, status = item
            try:
                self._send(record, status)
            except Exception as exc:  # noqa: BLE001 - a notifier never stops the daemon
                self._failed(record, f"{type(exc).__name__}: {exc}")
                continue
            self.sent += 1
            self.last_sent_at = utcnow_iso()
            try:
                with self.connection():
                    self.log_book.sent(self.key, record.dispatch_id, status)
            except Exception as exc:  # noqa: BLE001 - the database may be down a while
                log.warning("notify %s: sent, but could not record it: %s", self.key, exc)

    def _send(self, record: DispatchRecord, status: str) -> None:
        payload = json.dumps(record.to_json(), default=str)
        if self.config.command:
            self._run_command(record, status, payload)
        if self.config.url:
            self._post(payload)

    def _run_command(self, record: DispatchRecord, status: str, payload: str) -> None:
        env = dict(os.environ)
        env.update(
            COVALENT_DISPATCH_ID=record.dispatch_id,
            COVALENT_DISPATCH_STATUS=status,
            COVALENT_DISPATCH_LATTICE=record.lattice_name or "",
        )
        assert self.config.command is not None
        done = subprocess.run(
            self.config.command,
            input=payload.encode(),
            env=env,
            capture_output=True,
            timeout=self.config.timeout,
            check=False,
        )
        if done.returncode != 0:
            said = done.stderr.decode(errors="replace").strip().splitlines()
            tail = f": {said[-1]}" if said else ""
            raise RuntimeError(f"{self.config.command[0]} exited with {done.returncode}{tail}")

    def _post(self, payload: str) -> None:
        assert self.config.url is not None
        request = urllib.request.Request(  # noqa: S310 - checked to be http(s)
            self.config.url,
            data=payload.encode(),
            headers={"Content-Type": "application/json", "User-Agent": "covalent-indexer"},
            method="POST",
        )
        for attempt, pause in enumerate((*URL_BACKOFF, None)):
            try:
                with urllib.request.urlopen(request, timeout=self.config.timeout):  # noqa: S310
                    return
            except (urllib.error.URLError, OSError) as exc:
                if pause is None or self.stopping.is_set():
                    raise RuntimeError(f"POST {self.config.url} failed: {exc}") from None
                log.info("notify %s: POST failed (%s), retry %d", self.key, exc, attempt + 1)
                if self.stopping.wait(pause):
                    raise RuntimeError(f"POST {self.config.url} failed: {exc}") from None

    def _failed(self, record: DispatchRecord, error: str) -> None:
        # Left pending in the index: the next daemon tries it again.
        self.last_error = error[:ERROR_CHARS]
        self.last_error_at = utcnow_iso()
        log.warning("notify %s: %s for %s", self.key, self.last_error, record.dispatch_id)


class Notifier:
    """The daemon's notifications: ``start`` after its first scan, ``wake``
    after each committed write, ``stop`` when it stops."""

    def __init__(self, index: DispatchIndex) -> None:
        self.index = index
        self.log_book = index.notification_log()
        self.woken = threading.Event()
        self.stopping = threading.Event()
        self.senders: dict[str, Sender] = {}
        self.thread: threading.Thread | None = None
        self.follower: Follower | None = None
        # Set again by ``reload``: the feed thread picks it up between reads.
        self._configs = list(index.config.notify)
        self._history_done = False

    def start(self) -> None:
        """Start sending, if any notifier is configured: the mark is taken
        now, so what the first scan wrote is history (``on_history``)."""
        if not self._configs or self.thread is not None:
            return
        for config in self._configs:
            self._sender(config)
        try:
            self.follower = Follower(self.index.change_head())
        except Exception as exc:  # noqa: BLE001 - retried by the thread
            log.warning("notify: cannot read the index yet (%s); will retry", exc)
        self.thread = threading.Thread(target=self._run, name="notify-feed", daemon=True)
        self.thread.start()

    def wake(self) -> None:
        """Something was written: read the feed now (never blocks)."""
        self.woken.set()

    def reload(self, configs: list[NotifyConfig]) -> None:
        """The configuration changed: notifiers are matched by ``key``."""
        self._configs = list(configs)
        if self.thread is None:
            self.start()
        self.woken.set()

    def stop(self) -> None:
        self.stopping.set()
        self.woken.set()
        if self.thread is not None:
            self.thread.join(STOP_GRACE)
        deadline = time.monotonic() + STOP_GRACE
        for sender in self.senders.values():
            sender.queue.put(None)
        for sender in self.senders.values():
            sender.thread.join(max(0.0, deadline - time.monotonic()))

    def to_json(self) -> list[dict[str, Any]]:
        keys = {c.key for c in self._configs}
        return [s.to_json() for k, s in self.senders.items() if k in keys]

    # ---- the feed thread ----------------------------------------------------

    def _sender(self, config: NotifyConfig) -> Sender:
        sender = self.senders.get(config.key)
        if sender is None:
            sender = Sender(config, self.log_book, self.index.connection, self.stopping)
            self.senders[config.key] = sender
            sender.thread.start()
        return sender

    def _run(self) -> None:
        while not self.stopping.is_set():
            try:
                with self.index.connection():
                    self._round()
            except Exception as exc:  # noqa: BLE001 - the database may be down a while
                log.warning("notify: reading the index failed (%s); retrying", exc)
                self.stopping.wait(POLL_SECONDS)
                continue
            self.woken.wait(POLL_SECONDS)
            self.woken.clear()

    def _round(self) -> None:
        configs = list(self._configs)
        if self.follower is None:
            self.follower = Follower(self.index.change_head())
        if not self._history_done:
            # What was written just before the mark is history too (a read
            # looks OVERLAP back): taken as seen, sent only on_history.
            history = list(self.follower.poll(self.index.changes))
            self._resend_pending(configs)
            self._send_history(configs, history)
            self._history_done = True
        for record in self.follower.poll(self.index.changes):
            if self.stopping.is_set():
                return
            self._offer(configs, record, live=True)

    def _offer(self, configs: list[NotifyConfig], record: DispatchRecord, live: bool) -> None:
        if record.hidden or record.status is None:
            return
        for config in configs:
            if not (live or config.on_history):
                continue
            if config.matches(record.status, record.lattice_name) and self.log_book.claim(
                config.key, record.dispatch_id, record.status
            ):
                self._sender(config).queue.put((record, record.status))

    def _resend_pending(self, configs: list[NotifyConfig]) -> None:
        for config in configs:
            for dispatch_id, status in self.log_book.pending(config.key):
                try:
                    record = self.index.get(dispatch_id)
                except NotFoundError:
                    continue
                self._sender(config).queue.put((record, status))

    def _send_history(self, configs: list[NotifyConfig], recent: list[DispatchRecord]) -> None:
        wanting = [c for c in configs if c.on_history]
        if not wanting:
            return
        for config in wanting:
            filters: dict[str, Any] = {"status": config.statuses}
            if config.lattice:
                filters["lattice_name"] = config.lattice
            for record in self.index.iterate(**filters):
                if self.stopping.is_set():
                    return
                self._offer([config], record, live=False)
        for record in recent:
            self._offer(wanting, record, live=False)
