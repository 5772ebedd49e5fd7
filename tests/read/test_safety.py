"""The reader never runs code from a pickle and never crashes on bad input.

Every hostile file is written into ``tmp_path`` and read with ``read_dispatch``
(``now`` far in the future, so that a failure is final, not a write in
progress). What must hold, whatever the file:

* nothing it names runs: no canary file appears, a victim folder survives,
  the working directory stays put and no module gets imported;
* ``read_dispatch`` returns, with ``record.unreadable`` a one-line reason, or
  (for a Result-shaped pickle) a record whose values are inert placeholders;
* converting what was loaded to JSON stays small and quick.

Known gaps, left to the planned worker process (RLIMIT_AS, a CPU time limit,
and surviving a crash), so not exercised here because they would take this
process down with them:

* a BINPUT/LONG_BINPUT/PUT memo index near 2**32 makes CPython's C unpickler
  allocate (and zero) a memo table of tens of gigabytes;
* tuples are built and hashed by the C unpickler itself, out of reach of
  ``find_class``: a dict key that is a chain of a million TUPLE1 opcodes
  overflows the C stack when hashed (a segfault), one built with memo
  references ``t = (t, t)`` 40 times hashes 2**40 items, and a few hundred
  thousand int keys that are all multiples of 2**61 - 1 (the same hash)
  make dict insertion quadratic;
* in class mode (a pickle that defines a class) every call makes a new
  type: about 300 bytes of memory per byte of pickle.
"""

from __future__ import annotations

import base64
import builtins
import functools
import importlib
import io
import json
import os
import pickle
import pickletools
import random
import shlex
import shutil
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest
from typer.testing import CliRunner

from dispatch_indexer.cli import app
from dispatch_indexer.read import safepickle, values
from dispatch_indexer.read.reader import INFO_FILE, RESULT_FILE, ReadOutcome, read_dispatch
from dispatch_indexer.read.resultinfo import read_info

from ..realdata import CUSTOM, FIXTURES, INNER

# Far enough ahead that no file counts as just written.
FAR_FUTURE = time.time() + 10 * 365 * 86400
SMALL_FIXTURE = FIXTURES / "results" / INNER
# Modules a payload might try to import; none is imported by the test run.
FORBIDDEN_MODULES = ("antigravity", "this", "webbrowser", "turtle", "tkinter", "smtplib")


# ---- writing hostile pickles ------------------------------------------------


class Reduce:
    """Pickles as ``func(*args)``: what a hostile pickle asks to be run."""

    def __init__(self, func: Callable[..., Any], *args: Any) -> None:
        self.func = func
        self.args = args

    def __reduce__(self) -> tuple[Any, ...]:
        return (self.func, self.args)

    def __call__(self, *args: Any) -> Any:  # a Reduce can be the callee of another
        raise AssertionError("only pickled, never called")


class Named:
    """Pickles as the global ``module.name``, which need not exist here."""

    def __init__(self, module: str, name: str) -> None:
        self.module = module
        self.name = name

    def __call__(self, *args: Any) -> Any:
        raise AssertionError("only pickled, never called")


class Obj:
    """Pickles as an instance of the global ``cls`` with the state ``state``."""

    def __init__(self, cls: Named, state: dict[str, Any]) -> None:
        self.cls = cls
        self.state = state

    def __reduce__(self) -> tuple[Any, ...]:
        return (self.cls, (), self.state)


class _Writer(pickle._Pickler):  # the Python pickler: it lets us write any global
    dispatch: ClassVar[dict[type, Any]] = dict(pickle._Pickler.dispatch)

    def save_named(self, obj: Named) -> None:
        if self.proto >= 4:
            self.save(obj.module)
            self.save(obj.name)
            self.write(pickle.STACK_GLOBAL)
        else:
            self.write(pickle.GLOBAL + f"{obj.module}\n{obj.name}\n".encode())
        self.memoize(obj)

    dispatch[Named] = save_named


def dumps(obj: Any, protocol: int = 5) -> bytes:
    buffer = io.BytesIO()
    _Writer(buffer, protocol).dump(obj)
    return buffer.getvalue()


RESULT = Named("covalent._results_manager.result", "Result")
STATUS = Named("covalent._shared_files.util_classes", "Status")
TRANSPORTABLE = Named("covalent._workflow.transport", "TransportableObject")


def result_pickle(dispatch_id: str, protocol: int = 5, **state: Any) -> bytes:
    """A pickle shaped like a Covalent Result, with ``state`` as its attributes."""
    attrs = {"_dispatch_id": dispatch_id, "_status": Obj(STATUS, {"STATUS": "COMPLETED"})}
    attrs.update(state)
    return dumps(Obj(RESULT, attrs), protocol)


def transportable(inner: bytes) -> Obj:
    return Obj(TRANSPORTABLE, {"_object": base64.b64encode(inner).decode(), "_header": {}})


def binunicode(text: str) -> bytes:
    raw = text.encode()
    return pickle.BINUNICODE + len(raw).to_bytes(4, "little") + raw


def raw_result(value_ops: bytes, dispatch_id: str = "raw") -> bytes:
    """A protocol-2 Result pickle whose ``_result`` is what ``value_ops`` push."""
    return (
        b"\x80\x02ccovalent._results_manager.result\nResult\n)\x81}("
        + binunicode("_dispatch_id")
        + binunicode(dispatch_id)
        + binunicode("_result")
        + value_ops
        + b"ub."
    )


def memo_put(index: int) -> bytes:
    return pickle.LONG_BINPUT + index.to_bytes(4, "little")


def memo_get(index: int) -> bytes:
    return pickle.LONG_BINGET + index.to_bytes(4, "little")


def huge_memo_index(data: bytes, limit: int = 1 << 20) -> bool:
    """Whether ``data`` stores into the memo at an index over ``limit``: the
    known gap (see the module docstring) that these tests must not trigger."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # genops on invalid escapes
            for op, arg, _pos in pickletools.genops(data):
                if op.name in ("PUT", "BINPUT", "LONG_BINPUT") and int(arg) > limit:
                    return True
    except (ValueError, OverflowError):
        pass  # the unpickler stops where genops does
    return False


# ---- reading them -----------------------------------------------------------


def write_dispatch(root: Path, data: bytes, name: str = "hostile") -> Path:
    folder = root / "results" / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / RESULT_FILE).write_bytes(data)
    return folder


def read(folder: Path, **options: Any) -> ReadOutcome:
    options.setdefault("now", FAR_FUTURE)
    return read_dispatch(folder, **options)


def assert_unreadable(outcome: ReadOutcome, *, contains: str = "") -> str:
    reason = outcome.record.unreadable
    assert isinstance(reason, str), outcome.record
    assert reason.strip() and "\n" not in reason, reason
    assert contains in reason
    assert outcome.transient is False
    return reason


def assert_inert(outcome: ReadOutcome) -> None:
    """Unreadable with a one-line reason, or read into JSON-ready values only."""
    if outcome.record.unreadable is not None:
        assert_unreadable(outcome)
    # Whatever was read must be storable: plain JSON, and small.
    assert len(json.dumps(outcome.record.to_json())) < 2_000_000


@dataclass
class Canary:
    """The side effects a payload would leave if anything in it ran."""

    file: Path
    victim: Path
    cwd: str
    modules: frozenset[str]

    @property
    def command(self) -> str:
        return f"touch {shlex.quote(str(self.file))}"

    def check(self, *, any_import: bool = False) -> None:
        """``any_import``: the code under test imports modules of its own
        (the CLI does, lazily); then only the payloads' modules are checked."""
        assert not self.file.exists(), "a payload ran: the canary file exists"
        assert (self.victim / "keep").read_text() == "keep", "a payload removed the victim"
        assert os.getcwd() == self.cwd, "a payload changed the working directory"
        new = set(sys.modules) - self.modules
        # A codec looked up for the first time is the only import allowed.
        assert any_import or {m for m in new if not m.startswith("encodings.")} == set(), new
        for name in FORBIDDEN_MODULES:
            assert name not in sys.modules


@pytest.fixture(scope="module")
def _warm(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Read a real result once, so that what the reader imports lazily
    (codecs, yaml's C loader...) is imported before modules are counted."""
    root = tmp_path_factory.mktemp("warm")
    folder = root / "results" / INNER
    shutil.copytree(SMALL_FIXTURE, folder)
    assert read(folder).ok
    read(write_dispatch(root, pickle.dumps(b"bytes", protocol=2)))  # _codecs.encode(, latin1)
    for name in FORBIDDEN_MODULES:
        assert name not in sys.modules, f"{name} is imported before the tests run"


@pytest.fixture
def canary(tmp_path: Path, _warm: None) -> Iterator[Canary]:
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep").write_text("keep")
    cwd = os.getcwd()
    watched = Canary(tmp_path / "canary", victim, cwd, frozenset(sys.modules))
    yield watched
    os.chdir(cwd)  # so that one failure does not break the tests after it


# (name, payload) pairs; each payload is pickled at every protocol.
def reduce_payloads(canary: Canary) -> dict[str, Any]:
    path, cmd = str(canary.file), canary.command
    return {
        "os.system": Reduce(os.system, cmd),
        "os.popen": Reduce(os.popen, cmd),
        "exec": Reduce(builtins.exec, f"open({path!r}, 'w').close()"),
        "eval": Reduce(builtins.eval, f"__import__('os').system({cmd!r})"),
        "compile+exec": Reduce(
            builtins.exec, Reduce(compile, f"open({path!r}, 'w')", "<payload>", "exec")
        ),
        "subprocess.call": Reduce(subprocess.call, ["touch", path]),
        "subprocess.run via partial": Reduce(functools.partial(subprocess.run, cmd, shell=True)),
        "__import__": Reduce(builtins.__import__, "antigravity"),
        "import_module": Reduce(importlib.import_module, "this"),
        "getattr chain": Reduce(
            Reduce(builtins.getattr, Reduce(builtins.__import__, "os"), "system"), cmd
        ),
        "open": Reduce(builtins.open, path, "w"),
        "shutil.rmtree": Reduce(shutil.rmtree, str(canary.victim)),
        "os.chdir": Reduce(os.chdir, "/"),
        "sys.exit": Reduce(sys.exit, 3),
        "nested pickle.loads": Reduce(pickle.loads, pickle.dumps(Reduce(os.system, cmd))),
    }


def raw_payloads(canary: Canary) -> dict[str, bytes]:
    cmd = canary.command.encode()
    blob = binunicode(canary.command)
    framed = b"\x8c\x05posix\x8c\x06system\x93" + blob + b"\x85R\x94."
    return {
        "proto0 GLOBAL+REDUCE": b"cos\nsystem\n(S'" + cmd + b"'\ntR.",
        "proto0 posix+unicode": b"cposix\nsystem\n(V" + cmd + b"\ntR.",
        "proto0 INST": b"(S'" + cmd + b"'\nios\nsystem\n.",
        "proto1 OBJ": b"(cos\nsystem\nS'" + cmd + b"'\no.",
        "proto0 eval": b'c__builtin__\neval\n(S\'__import__("os").system("' + cmd + b"\")'\ntR.",
        "proto0 getattr chain": (
            b"cbuiltins\ngetattr\n(cbuiltins\n__import__\n(S'os'\ntRS'system'\ntR(S'"
            + cmd
            + b"'\ntR."
        ),
        "proto2 NEWOBJ": b"\x80\x02cos\nsystem\n" + blob + b"\x85\x81.",
        "proto2 BUILD setstate": b"\x80\x02cos\nsystem\n)\x81" + blob + b"b.",
        "proto4 STACK_GLOBAL": (b"\x80\x04\x8c\x02os\x94\x8c\x06system\x94\x93" + blob + b"\x85R."),
        "proto5 framed": b"\x80\x05\x95" + len(framed).to_bytes(8, "little") + framed,
        "proto5 out-of-band buffer": b"\x80\x05\x97.",
        "persistent id": b"\x80\x02" + blob + b"Q.",
        "extension code": b"\x80\x02\x82\x01.",
        "state for a constructor": (
            b"\x80\x02cbuiltins\nset\nN}X\x0c\x00\x00\x00__defaults__]K\x01a\x85s\x86b."
        ),
        "state for a global": b"\x80\x02cos\nsystem\n}b.",
    }


RAW_NAMES = sorted(raw_payloads(Canary(Path("c"), Path("v"), "", frozenset())))
REDUCE_NAMES = sorted(reduce_payloads(Canary(Path("c"), Path("v"), "", frozenset())))


# ---- 1. canary pickles ------------------------------------------------------


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
@pytest.mark.parametrize("name", REDUCE_NAMES)
def test_reduce_payloads_never_run(
    tmp_path: Path, canary: Canary, name: str, protocol: int
) -> None:
    data = pickle.dumps(reduce_payloads(canary)[name], protocol=protocol)
    outcome = read(write_dispatch(tmp_path, data))
    canary.check()
    # None of them is a Result: each loads as ghosts and is refused as such.
    assert_unreadable(outcome, contains="not a Covalent Result")
    assert outcome.record.status is None


@pytest.mark.parametrize("name", RAW_NAMES)
def test_raw_payloads_never_run(tmp_path: Path, canary: Canary, name: str) -> None:
    outcome = read(write_dispatch(tmp_path, raw_payloads(canary)[name]))
    canary.check()
    assert_unreadable(outcome)


def test_real_constructors_cannot_be_changed_by_a_pickle(tmp_path: Path) -> None:
    # BUILD on the set() the loader hands out would otherwise set its
    # __defaults__, and every later pickle's set() would hold [1].
    poison = b"\x80\x02cbuiltins\nset\nN}X\x0c\x00\x00\x00__defaults__]K\x01a\x85s\x86b0N."
    with pytest.raises(safepickle.UnsafePickleError):
        safepickle.loads(poison)
    assert safepickle.loads(b"\x80\x02cbuiltins\nset\n)R.") == set()


@pytest.mark.parametrize(
    "module",
    # Covalent moved the class in 0.220 (docs/covalent-generations.md).
    ["covalent._workflow.transport", "covalent._workflow.transportable_object"],
)
def test_a_transportable_result_shows_its_value_under_either_class_name(
    tmp_path: Path, module: str
) -> None:
    wrapped = Obj(
        Named(module, "TransportableObject"),
        {"_object": base64.b64encode(pickle.dumps({"answer": 42})).decode(), "_header": {}},
    )
    outcome = read(write_dispatch(tmp_path, result_pickle("wrapped", _result=wrapped)))
    assert outcome.ok, outcome.record.unreadable
    assert outcome.record.result == {"answer": 42}


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_payload_inside_a_transportable_result_is_shown_not_run(
    tmp_path: Path, canary: Canary, protocol: int
) -> None:
    inner = pickle.dumps(Reduce(os.system, canary.command), protocol=protocol)
    data = result_pickle(
        "hostile",
        protocol,
        _result=transportable(inner),
        _error=Reduce(os.system, canary.command),
        _lattice=Obj(Named("covalent._workflow.lattice", "Lattice"), {"__name__": "evil"}),
    )
    outcome = read(write_dispatch(tmp_path, data))
    canary.check()
    assert outcome.ok, outcome.record.unreadable
    record = outcome.record
    assert (record.dispatch_id, record.status, record.lattice_name) == (
        "hostile",
        "COMPLETED",
        "evil",
    )
    # The inner pickle was loaded as ghosts: its call is shown by name.
    assert record.result == "<posix.system>"
    assert_inert(outcome)


@pytest.mark.parametrize(
    "value",
    [{"_dispatch_id": "x"}, ["_status"], 42, None, "COMPLETED", 1.5, (1, 2), b"pkl"],
    ids=lambda v: type(v).__name__,
)
def test_a_pickle_that_is_not_a_result_is_unreadable(tmp_path: Path, value: Any) -> None:
    outcome = read(write_dispatch(tmp_path, pickle.dumps(value)))
    reason = assert_unreadable(outcome, contains="not a Covalent Result")
    assert type(value).__name__ in reason


# ---- 2. the same through the CLI -------------------------------------------


def test_hostile_pickles_through_the_cli(tmp_path: Path, canary: Canary) -> None:
    root = tmp_path / "results"
    payloads = {
        "raw-os-system": raw_payloads(canary)["proto0 GLOBAL+REDUCE"],
        "exec": pickle.dumps(reduce_payloads(canary)["exec"], protocol=2),
        "rmtree": pickle.dumps(reduce_payloads(canary)["shutil.rmtree"], protocol=5),
        "truncated": SMALL_FIXTURE.joinpath(RESULT_FILE).read_bytes()[:1000],
        "garbage": bytes(random.Random(1).randrange(256) for _ in range(500)),
    }
    for name, data in payloads.items():
        folder = write_dispatch(tmp_path, data, name)
        # Settled long ago, so the scan records them instead of waiting.
        os.utime(folder / RESULT_FILE, (time.time() - 3600, time.time() - 3600))
    runner = CliRunner()
    for args in (["add-dir", str(root)], ["scan"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, (args, result.output, result.exception)
    listed = runner.invoke(app, ["list", "--json"])
    assert listed.exit_code == 0, listed.output
    records = {r["dispatch_id"]: r for r in json.loads(listed.stdout)}
    assert set(records) == set(payloads)
    for name, record in records.items():
        assert isinstance(record["unreadable"], str) and record["unreadable"], name
        assert "\n" not in record["unreadable"]
    canary.check(any_import=True)


# ---- 3. broken files --------------------------------------------------------


def test_empty_result_pkl(tmp_path: Path) -> None:
    assert_unreadable(read(write_dispatch(tmp_path, b"")), contains="empty")


@pytest.mark.parametrize("seed", range(12))
def test_random_bytes(tmp_path: Path, canary: Canary, seed: int) -> None:
    rng = random.Random(seed)
    data = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 4096)))
    if seed % 2:
        data = b"\x80" + bytes([seed % 6]) + data  # past PROTO, into the opcodes
    assert not huge_memo_index(data)
    assert_unreadable(read(write_dispatch(tmp_path, data)))
    canary.check()


def test_result_pkl_is_a_directory(tmp_path: Path) -> None:
    folder = tmp_path / "results" / "dir"
    (folder / RESULT_FILE).mkdir(parents=True)
    assert_unreadable(read(folder), contains="not a regular file")


@pytest.mark.timeout(10)
def test_result_pkl_is_a_fifo(tmp_path: Path) -> None:
    folder = tmp_path / "results" / "fifo"
    folder.mkdir(parents=True)
    os.mkfifo(folder / RESULT_FILE)
    assert_unreadable(read(folder), contains="not a regular file")


@pytest.mark.timeout(10)
def test_result_pkl_is_a_device_or_a_loop(tmp_path: Path) -> None:
    zero = tmp_path / "results" / "zero"
    zero.mkdir(parents=True)
    (zero / RESULT_FILE).symlink_to("/dev/zero")
    assert_unreadable(read(zero), contains="not a regular file")
    loop = tmp_path / "results" / "loop"
    loop.mkdir(parents=True)
    (loop / RESULT_FILE).symlink_to(loop / RESULT_FILE)
    assert_unreadable(read(loop), contains="cannot open")


def test_result_pkl_over_max_bytes(tmp_path: Path) -> None:
    folder = write_dispatch(tmp_path, SMALL_FIXTURE.joinpath(RESULT_FILE).read_bytes())
    assert read(folder).ok
    outcome = read(folder, max_bytes=1000)
    assert_unreadable(outcome, contains="limit")
    assert outcome.data is None


def test_truncated_at_every_offset(tmp_path: Path) -> None:
    data = SMALL_FIXTURE.joinpath(RESULT_FILE).read_bytes()
    folder = tmp_path / "results" / INNER
    folder.mkdir(parents=True)
    shutil.copy(SMALL_FIXTURE / INFO_FILE, folder / INFO_FILE)
    info = read_info(folder / INFO_FILE)
    assert (info["dispatch_id"], info["status"]) == (INNER, "COMPLETED")
    pkl = folder / RESULT_FILE
    reasons = set()
    for end in range(len(data)):
        pkl.write_bytes(data[:end])
        outcome = read(folder)
        reasons.add(assert_unreadable(outcome))
        # Only the result_info.yaml fallback fills anything in.
        assert outcome.record.status == info["status"]
        assert outcome.record.dispatch_id == INNER
        assert outcome.record.result is None and outcome.record.nodes == []
    assert f"{RESULT_FILE} is empty" in reasons
    assert f"{RESULT_FILE} is truncated" in reasons
    pkl.write_bytes(data)
    assert read(folder).ok


def test_just_written_truncated_file_is_transient(tmp_path: Path) -> None:
    data = SMALL_FIXTURE.joinpath(RESULT_FILE).read_bytes()
    folder = write_dispatch(tmp_path, data[: len(data) // 2])
    outcome = read_dispatch(folder, settle_seconds=2, now=time.time())
    assert outcome.transient is True
    assert outcome.record.unreadable
    # The same file, once settled, is recorded as unreadable.
    assert_unreadable(read_dispatch(folder, settle_seconds=2, now=time.time() + 60))


# ---- 4. hostile result_info.yaml --------------------------------------------


def _laughs(levels: int = 9) -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels):
        refs = ", ".join([f"*a{i - 1}"] * 9)
        lines.append(f"a{i}: &a{i} [{refs}]")
    return "\n".join(lines) + f"\ndispatch_id: *a{levels - 1}\nresult_status: *a{levels - 1}\n"


def _merges(levels: int = 30) -> str:
    lines = ["m0: &m0 {k: v}"]
    lines += [f"m{i}: &m{i} {{<<: [*m{i - 1}, *m{i - 1}], k{i}: v}}" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def hostile_yaml(canary: Canary) -> dict[str, bytes]:
    cmd = canary.command
    docs = {
        "object/apply": f'!!python/object/apply:os.system ["{cmd}"]\n',
        "object/apply as status": (
            f'dispatch_id: abc\nresult_status: !!python/object/apply:os.system ["{cmd}"]\n'
        ),
        "object/new": f'dispatch_id: !!python/object/new:os.system ["{cmd}"]\n',
        "name": "dispatch_id: !!python/name:os.system\nresult_status: !!python/name:os.system\n",
        "module": "dispatch_id: !!python/module:antigravity\n",
        "object with state": (
            "result_status: !!python/object:subprocess.Popen\n"
            f"  args: {cmd}\n  STATUS: [not, text]\n"
        ),
        "billion laughs": _laughs(),
        "merge keys": _merges(),
        "huge": "dispatch_id: x\npadding: '" + "x" * 1_000_000 + "'\n",
        "list": "- dispatch_id: x\n- result_status: COMPLETED\n",
        "scalar": "COMPLETED\n",
        "wrong types": "dispatch_id: 12\nresult_status: [COMPLETED]\n",
        "nested wrong types": "dispatch_id: {a: b}\nresult_status: {STATUS: {a: b}}\n",
        "empty id": "dispatch_id: ''\nresult_status: {STATUS: 7}\n",
        "huge int": "dispatch_id: " + "9" * 5000 + "\n",
        "bad timestamp": "dispatch_id: !!timestamp 2026-99-99\n",
        "bad binary": "dispatch_id: !!binary '@@@'\n",
        "unhashable key": "? [a, b]\n: c\n",
        "deep": "[" * 20_000 + "]" * 20_000 + "\n",
        "syntax": "dispatch_id: [unclosed\n",
        "empty": "",
    }
    raw = {name: text.encode() for name, text in docs.items()}
    raw["binary"] = bytes(random.Random(3).randrange(256) for _ in range(2048))
    raw["latin-1"] = "dispatch_id: caf\xe9\n".encode("latin-1")
    return raw


YAML_NAMES = sorted(hostile_yaml(Canary(Path("c"), Path("v"), "", frozenset())))


@pytest.mark.timeout(20)
@pytest.mark.parametrize("name", YAML_NAMES)
def test_hostile_result_info(tmp_path: Path, canary: Canary, name: str) -> None:
    path = tmp_path / INFO_FILE
    path.write_bytes(hostile_yaml(canary)[name])
    started = time.monotonic()
    info = read_info(path)
    assert time.monotonic() - started < 5
    canary.check()
    assert set(info) <= {"dispatch_id", "status"}
    assert all(isinstance(v, str) and v for v in info.values()), info
    # And as the fallback of an unreadable pickle.
    folder = write_dispatch(tmp_path, b"garbage")
    shutil.copy(path, folder / INFO_FILE)
    outcome = read(folder)
    assert_unreadable(outcome)
    assert isinstance(outcome.record.dispatch_id, str)
    assert outcome.record.status is None or isinstance(outcome.record.status, str)
    canary.check()


@pytest.mark.timeout(10)
def test_result_info_that_is_not_a_file(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    # Opening a FIFO for reading blocks until a writer comes, unless asked not to.
    assert read_info(fifo) == {}
    (tmp_path / "dir.yaml").mkdir()
    assert read_info(tmp_path / "dir.yaml") == {}
    assert read_info(tmp_path / "absent.yaml") == {}
    (tmp_path / "zero.yaml").symlink_to("/dev/zero")
    assert read_info(tmp_path / "zero.yaml") == {}


# ---- 5. memory and time bounds ----------------------------------------------


def _deep_lists(levels: int) -> bytes:
    # MARK ... LIST opcodes: no recursion in pickle.dumps to build it.
    return b"(" * levels + b"l" * levels


def _self_list() -> bytes:
    return b"]" + memo_put(0) + memo_get(0) + b"a"


def _self_dict() -> bytes:
    return b"}" + memo_put(0) + binunicode("me") + memo_get(0) + b"s"


def _laughs_list(levels: int = 40) -> bytes:
    ops = b"]" + binunicode("lol") + b"a" + memo_put(0) + b"0"
    for i in range(1, levels + 1):
        ops += b"](" + memo_get(i - 1) + memo_get(i - 1) + b"e" + memo_put(i) + b"0"
    return ops + memo_get(levels)


def _laughs_tuple_values(levels: int = 40) -> bytes:
    # Shared tuples are fine as values: only hashing one would expand it.
    ops = binunicode("lol") + b"\x85" + memo_put(0) + b"0"
    for i in range(1, levels + 1):
        ops += memo_get(i - 1) + memo_get(i - 1) + b"\x86" + memo_put(i) + b"0"
    return ops + b"]" + memo_get(levels) + b"a"


def _defaultdict_chain(levels: int) -> bytes:
    # defaultdict ghosts, each the only value of the next: a chain of
    # special ghosts, which values.py converts through what they hold.
    ops = [b"ccollections\ndefaultdict\n", memo_put(0), b"0"]
    ops += [memo_get(0), b")R", memo_put(1), b"0"]
    for i in range(2, levels + 2):
        ops += [memo_get(0), b")R", binunicode("k"), memo_get(i - 1), b"s", memo_put(i), b"0"]
    return b"".join(ops) + memo_get(levels + 1)


def _defaultdict_cycle() -> bytes:
    return b"ccollections\ndefaultdict\n)R" + memo_put(0) + binunicode("me") + memo_get(0) + b"s"


def _transportable_repeated(copies: int = 1000) -> bytes:
    # One inner pickle of a million opcodes whose value is a single int,
    # referred to by memo a thousand times.
    inner = b"\x80\x02](" + b"K\x01" * 1_000_000 + b"e0K\x07."
    encoded = base64.b64encode(inner).decode()
    ghost = (
        b"ccovalent._workflow.transport\nTransportableObject\n)\x81}"
        + binunicode("_object")
        + binunicode(encoded)
        + b"sb"
        + memo_put(0)
    )
    return b"](" + ghost + memo_get(0) * (copies - 1) + b"e"


def _huge_ints() -> bytes:
    big = pickle.encode_long(7**20_000)
    long4 = pickle.LONG4 + len(big).to_bytes(4, "little") + big
    # As a value, as a dict key and inside a tuple key.
    return b"](" + long4 + b"}" + long4 + b"K\x01s}" + long4 + b"\x85K\x02se"


BOUNDED: dict[str, Callable[[], bytes]] = {
    "nested 100,000 deep": lambda: _deep_lists(100_000),
    "list holding itself": _self_list,
    "dict holding itself": _self_dict,
    "billion laughs list": _laughs_list,
    "billion laughs tuple": _laughs_tuple_values,
    "defaultdict chain 100,000 deep": lambda: _defaultdict_chain(100_000),
    "defaultdict holding itself": _defaultdict_cycle,
    "one transportable a thousand times": _transportable_repeated,
    "ints of 20,000 digits": _huge_ints,
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", sorted(BOUNDED))
def test_values_stay_bounded(tmp_path: Path, name: str) -> None:
    ops = BOUNDED[name]()
    started = time.monotonic()
    value = safepickle.loads(b"\x80\x02" + ops + b".")
    converted = values.to_json(value)
    assert len(json.dumps(converted)) < 2_000_000
    assert time.monotonic() - started < 10
    # The same value as a Result's output, read from disk.
    outcome = read(write_dispatch(tmp_path, raw_result(ops)))
    assert outcome.ok, outcome.record.unreadable
    assert outcome.record.dispatch_id == "raw"
    assert_inert(outcome)
    assert time.monotonic() - started < 20


def test_cycles_and_depth_are_marked() -> None:
    assert values.to_json(safepickle.loads(b"\x80\x02" + _self_list() + b".")) == ["<cycle>"]
    cycle = values.to_json(safepickle.loads(b"\x80\x02" + _defaultdict_cycle() + b"."))
    assert cycle == {"me": "<cycle>"}
    chain = values.to_json(safepickle.loads(b"\x80\x02" + _defaultdict_chain(1000) + b"."))
    depth = 0
    while isinstance(chain, dict):
        chain, depth = chain["k"], depth + 1
    assert depth <= values.MAX_DEPTH + 1
    big = values.to_json(safepickle.loads(b"\x80\x02" + _huge_ints() + b"."))
    shown = f"<int of {(7**20_000).bit_length():,} bits>"
    assert big == [shown, {shown: 1}, {"<tuple>": 2}]


def test_out_of_range_times_and_numbers_in_a_result(tmp_path: Path) -> None:
    import datetime as dt

    late = dt.datetime(9999, 12, 31, 23, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    early = dt.datetime(1, 1, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=5)))
    data = result_pickle(
        "times",
        2,
        _start_time=late,
        _end_time=early,
        _num_nodes=2**70,
        _result=10**5000,
        _lattice=Obj(
            Named("covalent._workflow.lattice", "Lattice"),
            {
                "transport_graph": Obj(
                    Named("covalent._workflow.transport", "_TransportGraph"),
                    {
                        "_graph": Obj(
                            Named("networkx.classes.multidigraph", "MultiDiGraph"),
                            {"_node": {2**80: {"name": "n", "start_time": late}}},
                        )
                    },
                )
            },
        ),
    )
    outcome = read(write_dispatch(tmp_path, data))
    assert outcome.ok, outcome.record.unreadable
    record = outcome.record
    assert (record.start_time, record.end_time, record.num_nodes) == (None, None, None)
    assert record.result == "<int of 16,610 bits>"
    assert [n.node_id for n in record.nodes] == ["1208925819614629174706176"]
    assert_inert(outcome)


def test_an_unforeseen_error_is_recorded_not_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interpret(root: Any) -> None:
        raise RuntimeError("surprise\nsecond line")

    monkeypatch.setattr("dispatch_indexer.read.reader.interpret", interpret)
    folder = tmp_path / "results" / INNER
    shutil.copytree(SMALL_FIXTURE, folder)
    outcome = read(folder)
    assert_unreadable(outcome, contains="RuntimeError: surprise")
    assert outcome.record.status == "COMPLETED"  # from result_info.yaml


@pytest.mark.timeout(30)
def test_reads_in_threads_do_not_mix(tmp_path: Path) -> None:
    """Ghost calls find their loader per thread: concurrent reads of a plain
    and a class-defining pickle each give their own answer."""
    # This one defines a class (__main__.Measurement): it loads in class mode.
    real = tmp_path / "results" / CUSTOM
    shutil.copytree(FIXTURES / "results" / CUSTOM, real)
    expected = read(real).record.to_json()
    assert expected["result"] == "<__main__.Measurement>"
    # A call's result used as a class: class mode too, and not a Result.
    hostile = write_dispatch(tmp_path, b"\x80\x02cos\nsystem\n)R)\x81.")
    failures: list[str] = []

    def work() -> None:
        for _ in range(20):
            got = read(real).record.to_json()
            if got != expected:
                failures.append("plain read changed")
            if read(hostile).ok:
                failures.append("hostile read succeeded")

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
