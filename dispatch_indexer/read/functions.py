"""What a pickled function says without being run: its docstring and its
parameters.

Covalent's UI document shows each node's docstring (``node["function"]
.get_deserialized().__doc__``) and names the workflow's inputs by its
signature (``get_named_params``). Both are read here from what cloudpickle
wrote: the arguments it gave ``types.CodeType`` (a docstring is the code's
first constant), or else the function's source text, parsed and never run.
"""

from __future__ import annotations

import ast
import textwrap
from typing import Any

from . import values
from .mirror import Shown
from .safepickle import Ghost, GhostClass, as_ghost

# Source text parsed (never run) to find the workflow's parameter names.
MAX_SOURCE_CHARS = 256 * 1024

# inspect.Parameter kinds, as get_named_params sees them.
_POSITIONAL_ONLY, _POSITIONAL_OR_KEYWORD, _VAR_POSITIONAL, _KEYWORD_ONLY, _VAR_KEYWORD = range(5)
_CO_VARARGS = 0x04
_CO_VARKEYWORDS = 0x08
_CO_HAS_DOCSTRING = 0x4000000  # Python 3.14+

# Docstrings by the pickled function they came from; oldest dropped first.
_DOC_CACHE: dict[tuple[str, str | None], Any] = {}
_DOC_CACHE_SIZE = 2048


class InnerBudget:
    """Base64 characters of pickled functions a document may still decode:
    shared by the attempts at one document, so that a retry with tighter
    limits does not decode them again."""

    __slots__ = ("left",)

    def __init__(self, left: int) -> None:
        self.left = left


def pickled_doc(function: Any, budget: InnerBudget) -> Any:
    """The docstring of a node's function (a ``TransportableObject`` holding
    its cloudpickle), or a ``Shown`` placeholder when it cannot be read."""
    ghost = as_ghost(function)
    if ghost is None:
        return _doc_of(function)
    state = ghost.state_dict
    encoded = state.get("_object")
    if not isinstance(encoded, str):
        return Shown(values.placeholder(f"doc of {ghost.type_name}"))
    if len(encoded) > budget.left:
        return Shown(values.placeholder("doc", "not read: over the size limit"))
    version = state.get("python_version")
    version = version if isinstance(version, str) else None
    # The docstring is a pure function of the pickled function's bytes,
    # and every dispatch of a workflow carries the same bytes: remember it.
    key = (encoded, version)
    if key in _DOC_CACHE:
        return _DOC_CACHE[key]
    budget.left -= len(encoded)
    try:
        inner = values.load_embedded(encoded)
    except ValueError:
        return Shown(values.placeholder("doc", "unreadable"))
    doc = _doc_of(inner, version)
    if len(_DOC_CACHE) >= _DOC_CACHE_SIZE:
        _DOC_CACHE.pop(next(iter(_DOC_CACHE)))
    _DOC_CACHE[key] = doc
    return doc


def _doc_of(obj: Any, python_version: str | None = None) -> Any:
    """``obj.__doc__`` of the object a node runs, from what was pickled."""
    if obj is None:
        return None  # a parameter node: None.__doc__
    if isinstance(obj, GhostClass) and obj.ghost_origin is None:
        # Pickled by reference (an importable function): its docstring is
        # in its module, not in the pickle.
        return Shown(values.placeholder(f"doc of {obj.qualified_name}"))
    ghost = as_ghost(obj)
    if ghost is None:
        return Shown(values.placeholder(f"doc of {type(obj).__name__}"))
    state = ghost.state_dict
    if "__doc__" in state:  # a Lattice (a sublattice node) keeps its own
        doc = state["__doc__"]
        return doc if doc is None or isinstance(doc, str) else Shown(values.placeholder("doc"))
    code = _code_args(ghost)
    if code is not None:
        flags, consts = code[5], code[7]
        first = consts[0] if consts else None
        if not isinstance(first, str):
            return None
        if _version(python_version) >= (3, 14) and not flags & _CO_HAS_DOCSTRING:
            return None
        # CPython (before 3.14) keeps a function's docstring as its first
        # constant, and None there when it has none.
        return first
    return Shown(values.placeholder(f"doc of {ghost.type_name}"))


def _version(text: str | None) -> tuple[int, int]:
    try:
        major, minor = (text or "").split(".")[:2]
        return int(major), int(minor)
    except ValueError:
        return (0, 0)


def _code_args(function: Ghost) -> tuple[Any, ...] | None:
    """The arguments cloudpickle gave ``types.CodeType`` for a function's
    code (Python 3.8+: argcount, posonlyargcount, kwonlyargcount, nlocals,
    stacksize, flags, codestring, consts, names, varnames, ...)."""
    if not function.args:
        return None
    code = as_ghost(function.args[0])
    if code is None:
        return None
    args = code.args
    if len(args) < 10 or not isinstance(args, tuple):
        return None
    if not all(isinstance(a, int) and not isinstance(a, bool) for a in args[:6]):
        return None
    if not isinstance(args[6], bytes) or not all(isinstance(a, tuple) for a in args[7:10]):
        return None
    return args


def signature(lattice_attrs: dict[Any, Any]) -> list[tuple[str, int]] | None:
    """The workflow function's parameters (name, kind), in signature order:
    from its pickled code object, else from its source text (parsed, never
    run)."""
    function = as_ghost(lattice_attrs.get("workflow_function"))
    code = _code_args(function) if function is not None else None
    if code is not None:
        params = _signature_from_code(code)
        if params is not None:
            return params
    return _signature_from_source(lattice_attrs.get("workflow_function_string"))


def _signature_from_code(code: tuple[Any, ...]) -> list[tuple[str, int]] | None:
    argcount, posonly, kwonly, flags = code[0], code[1], code[2], code[5]
    names = code[9]
    wanted = argcount + kwonly + bool(flags & _CO_VARARGS) + bool(flags & _CO_VARKEYWORDS)
    if posonly > argcount or wanted > len(names) or not all(isinstance(n, str) for n in names):
        return None
    params = [(names[i], _POSITIONAL_ONLY) for i in range(posonly)]
    params += [(names[i], _POSITIONAL_OR_KEYWORD) for i in range(posonly, argcount)]
    index = argcount + kwonly
    if flags & _CO_VARARGS:
        params.append((names[index], _VAR_POSITIONAL))
        index += 1
    params += [(names[i], _KEYWORD_ONLY) for i in range(argcount, argcount + kwonly)]
    if flags & _CO_VARKEYWORDS:
        params.append((names[index], _VAR_KEYWORD))
    return params


def _signature_from_source(source: Any) -> list[tuple[str, int]] | None:
    if not isinstance(source, str) or len(source) > MAX_SOURCE_CHARS:
        return None
    try:
        tree = ast.parse(textwrap.dedent(source))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            a = node.args
            params = [(p.arg, _POSITIONAL_ONLY) for p in a.posonlyargs]
            params += [(p.arg, _POSITIONAL_OR_KEYWORD) for p in a.args]
            if a.vararg is not None:
                params.append((a.vararg.arg, _VAR_POSITIONAL))
            params += [(p.arg, _KEYWORD_ONLY) for p in a.kwonlyargs]
            if a.kwarg is not None:
                params.append((a.kwarg.arg, _VAR_KEYWORD))
            return params
    return None


def named_params(
    params: list[tuple[str, int]], args: list[Any], kwargs: dict[Any, Any]
) -> tuple[dict[Any, Any], dict[Any, Any]]:
    """Covalent 0.110's ``get_named_params``, quirks included (a keyword
    parameter adds every keyword argument but the one named like itself)."""
    named_args: dict[Any, Any] = {}
    named_kwargs: dict[Any, Any] = {}
    for index, (name, kind) in enumerate(params):
        if kind in (_POSITIONAL_ONLY, _POSITIONAL_OR_KEYWORD):
            if name in kwargs:
                named_kwargs[name] = kwargs[name]
            elif index < len(args):
                named_args[name] = args[index]
        elif kind == _VAR_POSITIONAL:
            for i in range(index, len(args)):
                named_args[f"arg[{i}]"] = args[i]
        else:
            for key, value in kwargs.items():
                if key != name:
                    named_kwargs[key] = value
    return named_args, named_kwargs
