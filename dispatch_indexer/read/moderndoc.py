"""Covalent's UI document for a dispatch read from a modern server (0.136 on).

The same document ``document`` builds from a 0.110 ``result.pkl`` (laid out
and kept under its size by ``doclayout``), filled from what a modern server
keeps: its database rows (``modern.ServerDispatch``) and the assets in its
data dir. A ``.tobj`` (or ``.pkl``) asset says its value only as its string
form, so every value here is that string (what Covalent's encoder writes for
anything but plain JSON); the pickle part is never read.

Where each field comes from; "not known" is what a 0.110 document holds for
it (null, ``{}``) when Covalent had nothing to say:

- ``dispatch_id``, ``status``, ``start_time``, ``end_time``, ``error``: the
  record (the ``lattices`` row; the error names each failed task);
- ``result``: the result asset's string form (the record's preview);
- ``results_dir``: the ``results_dir`` Covalent recorded, else the data dir;
- ``lattice``: ``function_string.txt`` (``workflow_function_string``),
  ``function_docstring.txt`` (``doc``; null when none was written), the
  name, the inputs named by the workflow's signature as Covalent 0.110 names
  them when ``inputs.tobj``'s string form is a literal (else that string,
  whole, under ``"inputs"``), and ``metadata`` holding only ``results_dir``:
  the executor is not in the rows read;
- each node: its ``electrons`` row (name, status, times, id); a task's
  ``function_string.txt`` or a parameter's ``value``; its ``output``; its
  error (``error.log``, else the exception line of a failed task's
  stderr); the tails of ``stdout.log``/``stderr.log`` (null when none was
  written, as for 0.110's parameters); ``doc``, the function's docstring
  that ``function.tobj``'s header keeps; ``sublattice_result``, the dispatch
  a sub-workflow task ran as ``<sub-dispatch ID>``; ``metadata`` ``{}`` and
  ``kwargs`` null, not known;
- each link: an ``electron_dependency`` row (``edge_name``, ``param_type``,
  ``arg_index`` when it has one), parent to child, ``key`` counting the
  edges between the same two nodes as networkx does.

Every read is bounded: a string form or text at ``_TEXT_BYTES`` (a log by its
tail), all of them together at ``_READ_BUDGET`` (the rest shown as not
read). An asset that cannot be read is a placeholder naming the file and the
reason; one not written (yet, or ever) is null.
"""

from __future__ import annotations

import ast
import codecs
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..records import NodeSummary
from . import doclayout, values
from .functions import signature
from .modern import ServerDispatch
from .render import Renderer
from .tobj import AssetPreview, UnreadableAssetError, read_pkl, read_tobj
from .tree import TRUNCATED

__all__ = ["document_json"]

# Bytes read of one asset's string form, one text file, or one log's tail.
_TEXT_BYTES = 16 * 1024
# Bytes read for one document in all: a document of 1 MB needs no more.
_READ_BUDGET = 16 * 1024 * 1024
# A .pkl asset (0.136 to 0.228) must be read whole to say anything.
_MAX_PICKLE = 1024 * 1024
_NOT_READ = "<not read: over the document's read limit>"
# Covalent names a parameter node so (``parameter_prefix``).
_PARAMETER = ":parameter:"


def document_json(dispatch: ServerDispatch, max_bytes: int = doclayout.MAX_DOCUMENT_BYTES) -> str:
    """Covalent's UI document of a server's dispatch, as the JSON text the
    index stores, under ``max_bytes``."""
    facts = _Facts.gather(dispatch, _Reader(_READ_BUDGET))
    return doclayout.fitted(facts.document, max_bytes)[1]


@dataclass(frozen=True)
class _Tail:
    """The end of a log: ``text``, out of ``size`` bytes in all."""

    text: str
    size: int
    cut: bool

    def shown(self, chars: int) -> str:
        if not self.cut and len(self.text) <= chars:
            return self.text
        return f"{TRUNCATED} [{self.size:,} bytes]\n{self.text[-chars:]}"


class _Reader:
    """Bounded reads of a dispatch's assets; a failure is a placeholder."""

    def __init__(self, budget: int) -> None:
        self.left = budget

    def _readable(self, path: Path | None) -> Path | str | None:
        """The path, to read; None when it was not written; else a placeholder."""
        if path is None:
            return None
        try:
            if not path.exists():
                return None
            if not path.is_file():
                return _unreadable(path, "not a regular file")
        except OSError as exc:  # a folder on the way that we may not enter
            return _unreadable(path, exc.strerror or str(exc))
        return path if self.left > 0 else _NOT_READ

    def string_form(self, path: Path | None) -> str | None:
        asset = self._asset(path, _TEXT_BYTES)
        if not isinstance(asset, AssetPreview):
            return asset
        if asset.preview is None:
            # A pickle that is not a TransportableObject has no string form.
            return _unreadable(asset.path, "it holds no string form")
        return asset.preview

    def doc_attr(self, path: Path | None) -> Any:
        """The ``doc`` a ``TransportableObject``'s header keeps: its object's
        ``__doc__``."""
        asset = self._asset(path, 0)
        if not isinstance(asset, AssetPreview):
            return asset
        doc = asset.attrs.get("doc")
        return doc if doc is None or isinstance(doc, str) else values.placeholder("doc")

    def _asset(self, path: Path | None, max_preview: int) -> AssetPreview | str | None:
        path = self._readable(path)
        if not isinstance(path, Path):
            return path
        try:
            if path.name.endswith(".pkl"):
                self.left -= min(path.stat().st_size, _MAX_PICKLE)
                return read_pkl(path, max_preview=max_preview, max_size=_MAX_PICKLE)
            asset = read_tobj(path, max_preview=max_preview)
        except (UnreadableAssetError, OSError) as exc:
            return _unreadable(path, str(exc))
        self.left -= min(asset.size, _TEXT_BYTES)
        return asset

    def head(self, path: Path | None) -> str | None:
        text = self._text(path, tail=False)
        return text if isinstance(text, str) else None

    def tail(self, path: Path | None) -> _Tail | str | None:
        return self._text(path, tail=True)

    def _text(self, path: Path | None, tail: bool) -> _Tail | str | None:
        path = self._readable(path)
        if not isinstance(path, Path):
            return path
        try:
            with path.open("rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                if tail:
                    handle.seek(max(0, size - _TEXT_BYTES))
                data = handle.read(_TEXT_BYTES)
        except OSError as exc:
            return _unreadable(path, exc.strerror or str(exc))
        self.left -= len(data)
        cut = len(data) < size
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        # A tail may start, and a head end, inside a character: dropped.
        text = decoder.decode(data, final=not cut)
        if not tail:
            return f"{text}{TRUNCATED} [{size:,} bytes]" if cut else text
        return _Tail(text.lstrip("\ufffd") if cut else text, size, cut)


def _unreadable(path: str | Path, reason: str) -> str:
    name = Path(path).name
    return values.placeholder("unreadable", f"{name}: {values.shorten_text(reason, 200)}")


@dataclass
class _Node:
    summary: NodeSummary
    parameter: bool
    source: str | None  # function_string, or a parameter's value
    output: str | None
    stdout: _Tail | str | None
    stderr: _Tail | str | None
    doc: Any
    sub_dispatch: str | None


@dataclass
class _Facts:
    """What the document says, read once; ``document`` renders it with each
    attempt's limits."""

    dispatch: ServerDispatch
    function_string: str | None
    doc: str | None
    inputs: str | None
    nodes: list[_Node]
    omitted: int

    @classmethod
    def gather(cls, dispatch: ServerDispatch, read: _Reader) -> _Facts:
        own = dispatch.assets
        nodes = []
        for summary in dispatch.record.nodes[: doclayout.MAX_NODES]:
            node_id = summary.node_id
            assets = dispatch.node_assets.get(node_id, {}) if isinstance(node_id, int) else {}
            parameter = (summary.name or "").startswith(_PARAMETER)
            nodes.append(
                _Node(
                    summary=summary,
                    parameter=parameter,
                    source=read.string_form(assets.get("value"))
                    if parameter
                    else read.head(assets.get("function_string")),
                    output=read.string_form(assets.get("output")),
                    stdout=read.tail(assets.get("stdout")),
                    stderr=read.tail(assets.get("stderr")),
                    doc=None if parameter else read.doc_attr(assets.get("function")),
                    sub_dispatch=dispatch.sub_dispatches.get(node_id)
                    if isinstance(node_id, int)
                    else None,
                )
            )
        return cls(
            dispatch=dispatch,
            function_string=read.head(own.get("workflow_function_string")),
            doc=read.head(own.get("doc")),
            inputs=read.string_form(own.get("inputs")),
            nodes=nodes,
            omitted=max(0, len(dispatch.record.nodes) - doclayout.MAX_NODES),
        )

    def document(self, r: Renderer) -> dict[str, Any]:
        record = self.dispatch.record
        results_dir = self.dispatch.lattice.results_dir or record.results_dir
        result = record.result
        if result is None and record.unreadable:
            result = values.placeholder("unreadable", record.unreadable)
        return doclayout.layout(
            dispatch_id=r.json(record.dispatch_id),
            status=r.json(record.status),
            result=r.json(result),
            start_time=r.json(record.start_time),
            end_time=r.json(record.end_time),
            results_dir=r.json(results_dir),
            error=r.json(record.error, r.text_chars),
            lattice=doclayout.lattice_layout(
                function_string=r.json(self.function_string, r.text_chars),
                doc=r.json(self.doc, r.text_chars),
                name=r.json(record.lattice_name),
                inputs=self.named_inputs(r),
                metadata={"results_dir": r.json(results_dir)},
            ),
            graph=doclayout.graph_layout(
                [self.node(n, r) for n in self.nodes], self.links(r), self.omitted
            ),
        )

    def named_inputs(self, r: Renderer) -> dict[str, Any]:
        if self.inputs is None:
            return {}
        parsed = _literal(self.inputs)
        if not isinstance(parsed, dict) or not set(parsed) <= {"args", "kwargs"}:
            return {"inputs": r.json(self.inputs)}
        params = signature({"workflow_function_string": self.function_string})
        named = doclayout.named_inputs(params, parsed.get("args"), parsed.get("kwargs"))
        shown = r.str_dict(named)
        return shown if isinstance(shown, dict) else {}

    def node(self, node: _Node, r: Renderer) -> dict[str, Any]:
        """One node in the order ``extract_graph_node`` leaves a 0.110 one."""
        s = node.summary
        out: dict[str, Any] = {"name": r.json(s.name), "metadata": {}}
        if node.parameter:
            out["value"] = r.json(node.source)
        else:
            out["function_string"] = r.json(node.source, r.text_chars)
        out["start_time"] = r.json(s.start_time)
        out["end_time"] = r.json(s.end_time)
        out["status"] = r.json(s.status)
        out["output"] = r.json(node.output)
        out["error"] = r.json(s.error, r.text_chars)
        sub = node.sub_dispatch
        out["sublattice_result"] = None if sub is None else values.placeholder("sub-dispatch", sub)
        out["stdout"] = _log(node.stdout, r)
        out["stderr"] = _log(node.stderr, r)
        out["id"] = r.json(s.node_id)
        out["doc"] = r.json(node.doc, r.text_chars)
        out["kwargs"] = None
        return out

    def links(self, r: Renderer) -> list[dict[str, Any]]:
        pairs = sorted(
            (
                (e.parent_node, e.child_node, e)
                for e in self.dispatch.edges
                if e.parent_node is not None and e.child_node is not None
            ),
            key=lambda t: (t[0], t[1]),
        )
        # networkx lists a node's edges by source, then target; a second
        # edge between the same two nodes gets the next key.
        keys: dict[tuple[int, int], int] = {}
        out = []
        for source, target, edge in pairs:
            key = keys[source, target] = keys.get((source, target), -1) + 1
            link: dict[str, Any] = {
                "edge_name": r.json(edge.edge_name),
                "param_type": r.json(edge.parameter_type),
            }
            if edge.arg_index is not None:
                link["arg_index"] = edge.arg_index
            link.update(source=source, target=target, key=key)
            out.append(link)
        return out


def _log(log: _Tail | str | None, r: Renderer) -> Any:
    if isinstance(log, _Tail):
        return log.shown(r.text_chars)
    return r.json(log)


def _literal(text: str) -> Any:
    """``text`` as a Python literal (parsed, never run), or None. The inputs'
    string form is ``str({'args': (...), 'kwargs': {...}})``: a literal when
    every value's ``str()`` is one."""
    try:
        return ast.literal_eval(text)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
