"""How many calls a load turns into classes: none first, then the calls of
globals named like class makers (cloudpickle's ``_make_skeleton_class``),
then every call. Each step reads the same tree the last one would, and none
runs anything."""

from __future__ import annotations

import pickle

import pytest

from dispatch_indexer.read import safepickle
from dispatch_indexer.read.covalent_result import interpret
from dispatch_indexer.read.document import document_text
from dispatch_indexer.read.safepickle import ALL_CALLS, MAKER_CALLS, Ghost, GhostClass

from ..realdata import CUSTOM, FIXTURES

# (mod.factory(), mod._make_skeleton_class()()): NEWOBJ on the maker's result.
MAKER = b"\x80\x02cmod\nfactory\n)Rcmod\n_make_skeleton_class\n)R)\x81\x86."
# NEWOBJ on the result of a call to a global named like no class maker.
OTHER = b"\x80\x02cos\nsystem\n)R)\x81."


def test_a_class_maker_call_makes_the_only_class() -> None:
    plain, made = safepickle.loads(MAKER)
    # The other call is a ghost, as in a load that makes no class at all.
    assert type(plain) is Ghost
    assert plain.ghost_class is not None
    assert plain.ghost_class.qualified_name == "mod.factory"
    assert type(made) is Ghost
    maker = made.ghost_class
    assert isinstance(maker, GhostClass)
    assert maker.ghost_origin is not None
    assert maker.ghost_origin.ghost_class.qualified_name == "mod._make_skeleton_class"


def test_any_call_used_as_a_class_still_loads_with_every_call_a_class() -> None:
    with pytest.raises(pickle.UnpicklingError, match="must be a type"):
        safepickle._load(OTHER, MAKER_CALLS)
    loaded = safepickle.loads(OTHER)
    assert type(loaded) is Ghost
    assert loaded.ghost_class.ghost_origin.ghost_class.qualified_name == "os.system"


def test_a_class_defining_result_reads_as_with_every_call_a_class() -> None:
    data = (FIXTURES / "results" / CUSTOM / "result.pkl").read_bytes()
    with pytest.raises(pickle.UnpicklingError, match="must be a type"):
        safepickle._load(data, safepickle.NO_CALLS)
    cheap = safepickle._load(data, MAKER_CALLS)
    full = safepickle._load(data, ALL_CALLS)
    assert repr(interpret(cheap)) == repr(interpret(full))
    assert document_text(cheap, "/r") == document_text(full, "/r")
