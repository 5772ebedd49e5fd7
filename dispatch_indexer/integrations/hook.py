"""Record a dispatch the moment Covalent saves it, from inside the dispatcher.

A dispatcher calls ``record(folder)`` after writing ``<results_dir>/<id>/result.pkl``
(or calls ``install_covalent_hook()`` once, which makes Covalent's own
``Result.save`` do it). The record is written synchronously, marked
``source = "hook"``, and the results directory becomes a registered root so
that the daemon watches it too, even for dispatches that bypass the hook.

Nothing here may break the dispatcher: every failure is logged, never raised.
"""

from __future__ import annotations

import functools
import logging
import os
from pathlib import Path
from typing import Any

from ..index import DispatchIndex
from ..paths import is_within
from ..read.reader import RESULT_FILE
from ..records import DispatchRecord

log = logging.getLogger(__name__)

SOURCE = "hook"
# Set on the wrapper so that installing twice does not wrap twice.
_MARK = "__covalent_indexer_hook__"


def record(
    folder: str | os.PathLike[str],
    *,
    home: str | os.PathLike[str] | None = None,
    db: str | None = None,
) -> DispatchRecord | None:
    """Index the dispatch in ``folder`` now; its record, or None if nothing
    readable could be recorded. Never raises."""
    try:
        return _record(folder, home=home, db=db)
    except Exception:
        log.warning("covalent-indexer could not record the dispatch in %s", folder, exc_info=True)
        return None


def _record(
    folder: str | os.PathLike[str],
    *,
    home: str | os.PathLike[str] | None,
    db: str | None,
) -> DispatchRecord | None:
    path = Path(os.fspath(folder)).expanduser().resolve()
    if not (path / RESULT_FILE).is_file():
        log.warning("not a dispatch folder (no %s): %s", RESULT_FILE, path)
        return None
    with DispatchIndex(db, home=home) as index:
        results_dir = str(path.parent)
        if not any(is_within(results_dir, root) for root in index.config.root_paths()):
            index.add_dirs([results_dir])
        # Covalent's save has returned, so the file is whole: waiting for it
        # to settle would only hold up the dispatcher.
        found = index.refresh(path, source=SOURCE)
    if found is None:
        log.warning("the dispatch in %s changed while it was read; not recorded", path)
        return None
    if found.unreadable and found.path == str(path):
        log.warning("the dispatch in %s is unreadable: %s", path, found.unreadable)
        return None
    return found


def install_covalent_hook() -> bool:
    """Make Covalent's ``Result.save`` record each dispatch it saves.

    True when the hook is in place (installing again changes nothing); False,
    touching nothing, when Covalent cannot be imported or has no ``Result.save``.
    """
    try:
        from covalent._results_manager.result import Result
    except ImportError:
        return False
    except Exception:
        log.warning("Covalent failed to import; no covalent-indexer hook", exc_info=True)
        return False
    original = getattr(Result, "save", None)
    if not callable(original):
        log.warning("Covalent's Result has no save method; no covalent-indexer hook")
        return False
    if getattr(original, _MARK, False):
        return True
    Result.save = _wrap_save(original)
    return True


def _wrap_save(original: Any) -> Any:
    @functools.wraps(original)
    def save(self: Any, *args: Any, **kwargs: Any) -> Any:
        returned = original(self, *args, **kwargs)
        try:
            folder = _saved_folder(self, args, kwargs)
            if folder is not None:
                record(folder)
        except Exception:
            log.warning("covalent-indexer hook failed after Result.save", exc_info=True)
        return returned

    setattr(save, _MARK, True)
    return save


def _saved_folder(result: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str | None:
    """Where ``Result.save(directory=None, ...)`` wrote: Covalent's own rule."""
    directory = kwargs["directory"] if "directory" in kwargs else (args[0] if args else None)
    directory = directory or getattr(result, "results_dir", None)
    dispatch_id = getattr(result, "dispatch_id", None)
    if not directory or not dispatch_id:
        return None
    return os.path.join(os.fspath(directory), str(dispatch_id))
