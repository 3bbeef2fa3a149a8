"""Mutation testing of the engine's pixel, CAM, gradient and image code, and the widgets' paging.

Each mutant is one small change of the source: an operator swapped (``+`` for ``-``, ``<`` for
``<=``, ``and`` for ``or``), a number moved by one, a ``not`` or a minus sign dropped, a
reduction swapped (``max`` for ``min``, ``mean`` for ``max``), a call made for its side effect
dropped, a returned value replaced by ``None``. A mutant is *killed* when a test fails with it.
Survivors show behaviour no test pins down. Run with ``make mutate`` (slow: not part of
``make test``).

How it stays practical on two cores, with TensorFlow in the tests:

- One worker process imports TensorFlow, the package and the tests once. A mutant is applied in
  place: the mutated module is compiled, and the new code object of the one function that
  changed replaces that function's ``__code__`` (so every reference to the function, the
  registry's and other modules' included, runs the mutant); default values, module constants
  and class attributes are replaced where they live. The package's ``lru_cache`` tables are
  cleared before the mutant's tests run (a table cached earlier would hide the mutant) and
  again after, when everything is restored.
- TensorFlow's AutoGraph is turned off in the worker: it retraces a function from its source
  file, which would hide every mutant inside a traced function (the suite passes without it).
- Only the tests that ran the mutated function run for it (recorded once, before any mutant,
  with a profiler), fastest first, stopping at the first failure.
- A mutant that hangs is stopped after ``--timeout`` seconds, counted as killed (``timeout``)
  and the worker is replaced.
- Every test session builds new Keras models, which TensorFlow never gives back in full, so
  the worker is replaced (the mutants so far are kept) once its memory passes
  ``--worker-memory`` gigabytes.
- Not mutated: docstrings and other strings, f-strings and everything in ``raise`` statements
  (messages), annotations, decorators, trait definitions and dataclass fields in class bodies.

Usage::

    python scripts/mutate.py                      # every target below
    python scripts/mutate.py render paging        # targets whose path contains these words
    python scripts/mutate.py --list               # count the mutants, run nothing
    python scripts/mutate.py --again              # only the last run's survivors

The report (killed / total per module, and every survivor with its line) is printed and written
to ``mutation-report/`` (git-ignored) as text and JSON.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import copy
import functools
import importlib
import json
import multiprocessing
import os
import sys
import time
import types
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "mutation-report"

#: The modules mutated.
TARGETS = [
    "convviz_widgets/engine/render.py",
    "convviz_widgets/engine/cam/__init__.py",
    "convviz_widgets/engine/cam/base.py",
    "convviz_widgets/engine/cam/deconvnet.py",
    "convviz_widgets/engine/cam/eigencam.py",
    "convviz_widgets/engine/cam/gradcam.py",
    "convviz_widgets/engine/cam/gradcam_plus_plus.py",
    "convviz_widgets/engine/cam/guided_backprop.py",
    "convviz_widgets/engine/cam/guided_gradcam.py",
    "convviz_widgets/engine/cam/layercam.py",
    "convviz_widgets/engine/cam/result.py",
    "convviz_widgets/engine/cam/saliency.py",
    "convviz_widgets/engine/cam/scorecam.py",
    "convviz_widgets/engine/cam/smoothgrad.py",
    "convviz_widgets/engine/gradients.py",
    "convviz_widgets/engine/images.py",
    "convviz_widgets/widgets/paging.py",
]

#: The fast tests that may kill them (the notebooks, the command line, the zoo's training and
#: the browser are left out; so are the few engine tests that take seconds each).
TESTS = ["tests/engine", "tests/widgets", "tests/test_docstrings.py"]
SLOW_TESTS = [
    "tests/engine/test_registry.py::test_a_new_method_is_one_class_and_one_registry_line",
    "tests/engine/test_cache_memory.py::test_memory_stays_within_the_budgets_over_two_hundred_images",
]
PYTEST_ARGS = ["-q", "-p", "no:cacheprovider", "-m", "not browser and not slow",
               "--no-header", "-W", "ignore::pytest.PytestUnraisableExceptionWarning",
               *[f"--deselect={test}" for test in SLOW_TESTS]]

BINARY = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult,
          ast.FloorDiv: ast.Div, ast.Mod: ast.FloorDiv, ast.Pow: ast.Mult, ast.MatMult: ast.Mult,
          ast.BitAnd: ast.BitOr, ast.BitOr: ast.BitAnd, ast.LShift: ast.RShift,
          ast.RShift: ast.LShift}
COMPARE = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq,
           ast.NotEq: ast.Eq, ast.In: ast.NotIn, ast.NotIn: ast.In, ast.Is: ast.IsNot,
           ast.IsNot: ast.Is}
REDUCTIONS = {"max": "min", "min": "max", "maximum": "minimum", "minimum": "maximum",
              "argmax": "argmin", "argmin": "argmax", "mean": "max", "sum": "max"}
SYMBOLS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//",
           ast.Mod: "%", ast.Pow: "**", ast.MatMult: "@", ast.BitAnd: "&", ast.BitOr: "|",
           ast.LShift: "<<", ast.RShift: ">>", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">",
           ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!=", ast.In: "in", ast.NotIn: "not in",
           ast.Is: "is", ast.IsNot: "is not", ast.And: "and", ast.Or: "or"}


# --------------------------------------------------------------------------- finding mutants


@dataclass
class Mutant:
    """One change of one module."""

    id: int
    path: str  # relative to the repository
    line: int
    operator: str
    change: str  # "a < b → a <= b", for the report
    index: int  # position of the node in ast.walk order
    variant: int  # which change of that node (a comparison with several operators)
    kind: str  # "code", "default", "constant"
    unit: tuple[str, ...]  # the function (or class, name) the change lives in
    first_line: int  # where that function's code starts (its first decorator)
    status: str = ""  # killed, survived, timeout, uncovered, error
    seconds: float = 0.0
    tests: int = 0


@dataclass
class Place:
    """Where a node sits: the outermost function around it, and what it is inside of."""

    unit: tuple[str, ...] = ()
    first_line: int = 0
    kind: str = "constant"
    skip: bool = False


def _first_line(node: ast.AST) -> int:
    decorators = getattr(node, "decorator_list", [])
    return min([node.lineno, *(d.lineno for d in decorators)])


def _is_docstring(node: ast.AST) -> bool:
    return (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str))


def places(tree: ast.Module) -> dict[int, Place]:
    """For each node (by id), where it sits."""
    found: dict[int, Place] = {}

    def visit(node: ast.AST, place: Place) -> None:
        found[id(node)] = place
        for name, value in ast.iter_fields(node):
            for child in value if isinstance(value, list) else [value]:
                if isinstance(child, ast.AST):
                    visit(child, _child_place(node, name, child, place))

    visit(tree, Place())
    return found


def _child_place(node: ast.AST, field_name: str, child: ast.AST, place: Place) -> Place:
    if place.skip:
        return place
    skip = Place(place.unit, place.first_line, place.kind, True)
    if field_name in ("decorator_list", "returns", "annotation", "type_comment"):
        return skip
    if isinstance(child, (ast.JoinedStr, ast.Raise, ast.Assert, ast.Import, ast.ImportFrom,
                          ast.Global, ast.Nonlocal)) or _is_docstring(child):
        return skip
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        if place.kind == "code":
            return place  # a nested function is part of the outer function's code
        unit = (*place.unit, node.name)
        if field_name == "args":
            return Place(unit, _first_line(node), "default")
        return Place(unit, _first_line(node), "code")
    if isinstance(node, ast.ClassDef) and place.kind != "code":
        if field_name in ("bases", "keywords"):
            return skip
        unit = (*place.unit, node.name)
        if isinstance(child, ast.Assign) and isinstance(child.value, ast.Call):
            return skip  # traits and other descriptors
        if isinstance(child, ast.AnnAssign) and "ClassVar" not in ast.unparse(child.annotation):
            return skip  # dataclass fields live in __init__'s defaults
        return Place(unit, 0, "constant")
    if isinstance(node, ast.Module):
        if isinstance(child, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "__all__" for t in child.targets):
            return skip
        if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
            return skip
    if isinstance(node, ast.arguments) and field_name not in ("defaults", "kw_defaults"):
        return skip
    return place


def changes(node: ast.AST) -> list[tuple[str, str]]:
    """The (operator, description) of every mutant of one node."""
    found = []
    if isinstance(node, (ast.BinOp, ast.AugAssign)) and type(node.op) in BINARY:
        new = BINARY[type(node.op)]
        found.append(("arithmetic", f"{SYMBOLS[type(node.op)]} → {SYMBOLS[new]}"))
    elif isinstance(node, ast.Compare):
        for op in node.ops:
            found.append(("comparison", f"{SYMBOLS[type(op)]} → {SYMBOLS[COMPARE[type(op)]]}"))
    elif isinstance(node, ast.BoolOp):
        new = ast.Or if isinstance(node.op, ast.And) else ast.And
        found.append(("boolean", f"{SYMBOLS[type(node.op)]} → {SYMBOLS[new]}"))
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.Not, ast.USub, ast.Invert)):
        found.append(("unary", f"{'not ' if isinstance(node.op, ast.Not) else '-'}x → x"))
    elif isinstance(node, ast.Constant) and type(node.value) in (int, float):
        found.append(("number", f"{node.value!r} → {node.value + 1!r}"))
    elif isinstance(node, ast.Constant) and isinstance(node.value, bool):
        found.append(("boolean constant", f"{node.value} → {not node.value}"))
    elif isinstance(node, ast.Call):
        name = (node.func.attr if isinstance(node.func, ast.Attribute) else
                node.func.id if isinstance(node.func, ast.Name) else None)
        if name in REDUCTIONS:
            found.append(("reduction", f"{name}(…) → {REDUCTIONS[name]}(…)"))
    elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        found.append(("call dropped", f"{ast.unparse(node.value)[:60]} → pass"))
    elif isinstance(node, ast.Return) and node.value is not None and not (
            isinstance(node.value, ast.Constant) and node.value.value is None):
        found.append(("return", f"return {ast.unparse(node.value)[:50]} → return None"))
    elif isinstance(node, ast.Break):
        found.append(("loop", "break → continue"))
    elif isinstance(node, ast.Continue):
        found.append(("loop", "continue → break"))
    return found


def apply(tree: ast.Module, index: int, variant: int) -> ast.Module:
    """A copy of ``tree`` with change ``variant`` of the ``index``-th node made."""
    tree = copy.deepcopy(tree)
    node = list(ast.walk(tree))[index]
    if isinstance(node, (ast.BinOp, ast.AugAssign)):
        node.op = BINARY[type(node.op)]()
    elif isinstance(node, ast.Compare):
        node.ops[variant] = COMPARE[type(node.ops[variant])]()
    elif isinstance(node, ast.BoolOp):
        node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
    elif isinstance(node, ast.UnaryOp):
        _replace(tree, node, node.operand)
    elif isinstance(node, ast.Constant) and isinstance(node.value, bool):
        node.value = not node.value
    elif isinstance(node, ast.Constant):
        node.value = node.value + 1
    elif isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Attribute):
            func.attr = REDUCTIONS[func.attr]
        else:
            assert isinstance(func, ast.Name)
            func.id = REDUCTIONS[func.id]
    elif isinstance(node, ast.Expr):
        _replace(tree, node, ast.Pass())
    elif isinstance(node, ast.Return):
        node.value = ast.Constant(None)
    elif isinstance(node, ast.Break):
        _replace(tree, node, ast.Continue())
    elif isinstance(node, ast.Continue):
        _replace(tree, node, ast.Break())
    return ast.fix_missing_locations(tree)


def _replace(tree: ast.AST, old: ast.AST, new: ast.AST) -> None:
    ast.copy_location(new, old)
    for parent in ast.walk(tree):
        for name, value in ast.iter_fields(parent):
            if value is old:
                setattr(parent, name, new)
                return
            if isinstance(value, list) and any(item is old for item in value):
                value[next(i for i, item in enumerate(value) if item is old)] = new
                return
    raise AssertionError("node not found")


def find_mutants(paths: list[str]) -> list[Mutant]:
    mutants: list[Mutant] = []
    for path in paths:
        tree = ast.parse((REPO / path).read_text(encoding="utf-8"))
        where = places(tree)
        for index, node in enumerate(ast.walk(tree)):
            place = where.get(id(node))
            if place is None or place.skip:
                continue
            if place.kind == "constant" and not _assignment_of(tree, node):
                continue
            for variant, (operator, change) in enumerate(changes(node)):
                mutants.append(Mutant(len(mutants), path, getattr(node, "lineno", 0), operator,
                                      change, index, variant, place.kind, place.unit,
                                      place.first_line))
    return mutants


def _assignment_of(tree: ast.Module, node: ast.AST) -> tuple[str, ...] | None:
    """For a node outside any function: the (class…, name) it assigns, if it is in a simple
    ``NAME = value`` at module or class level (else it cannot be applied in place)."""
    def search(body: list[ast.stmt], prefix: tuple[str, ...]) -> tuple[str, ...] | None:
        for statement in body:
            if isinstance(statement, ast.ClassDef):
                found = search(statement.body, (*prefix, statement.name))
                if found:
                    return found
                continue
            if isinstance(statement, (ast.Assign, ast.AnnAssign)) and statement.value is not None:
                targets = (statement.targets if isinstance(statement, ast.Assign)
                           else [statement.target])
                if len(targets) == 1 and isinstance(targets[0], ast.Name) and any(
                        n is node for n in ast.walk(statement.value)):
                    return (*prefix, targets[0].id)
        return None

    return search(tree.body, ())


# --------------------------------------------------------------------------- applying mutants


def _module_name(path: str) -> str:
    name = path.removesuffix(".py").replace("/", ".")
    return name.removesuffix(".__init__")


def _code_named(code: types.CodeType, unit: tuple[str, ...], first_line: int
                ) -> types.CodeType:
    """The code object of ``unit`` (class…, function) inside a module's code."""
    current = code
    for depth, name in enumerate(unit):
        last = depth == len(unit) - 1
        matches = [c for c in current.co_consts if isinstance(c, types.CodeType)
                   and c.co_name == name and (not last or c.co_firstlineno == first_line)]
        if len(matches) != 1:
            raise LookupError(f"{'.'.join(unit)} (line {first_line}): {len(matches)} matches")
        current = matches[0]
    return current


def _functions_in(value: Any) -> list[types.FunctionType]:
    """Plain functions behind a class or module attribute (properties, wrappers unwrapped)."""
    found, todo, seen = [], [value], set()
    while todo:
        item = todo.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, types.FunctionType):
            found.append(item)
        if isinstance(item, property):
            todo += [item.fget, item.fset, item.fdel]
        for attribute in ("__func__", "func", "__wrapped__", "fget"):
            inner = getattr(item, attribute, None)
            if inner is not None and not isinstance(item, type):
                todo.append(inner)
    return [f for f in found if f is not None]


def _live_function(module: types.ModuleType, unit: tuple[str, ...], first_line: int
                   ) -> types.FunctionType:
    owner: Any = module
    for name in unit[:-1]:
        owner = getattr(owner, name)
    candidates = [f for f in _functions_in(vars(owner).get(unit[-1]))
                  if f.__code__.co_name == unit[-1] and f.__code__.co_firstlineno == first_line]
    if len(candidates) != 1:
        raise LookupError(f"{'.'.join(unit)}: {len(candidates)} live functions")
    return candidates[0]


@contextlib.contextmanager
def applied(mutant: Mutant, trees: dict[str, ast.Module]):
    """Within the block, the package runs ``mutant``."""
    module = importlib.import_module(_module_name(mutant.path))
    tree = apply(trees[mutant.path], mutant.index, mutant.variant)
    filename = str(REPO / mutant.path)
    undo: list[Any] = []
    try:
        if mutant.kind == "code":
            function = _live_function(module, mutant.unit, mutant.first_line)
            new = _code_named(compile(tree, filename, "exec"), mutant.unit, mutant.first_line)
            old = function.__code__
            function.__code__ = new
            undo.append(lambda: setattr(function, "__code__", old))
        elif mutant.kind == "default":
            function = _live_function(module, mutant.unit, mutant.first_line)
            definition = _definition(tree, mutant.unit)
            namespace = vars(module)
            positional = tuple(eval(compile(ast.Expression(d), filename, "eval"), namespace)
                               for d in definition.args.defaults)
            keywords = {a.arg: eval(compile(ast.Expression(d), filename, "eval"), namespace)
                        for a, d in zip(definition.args.kwonlyargs,
                                        definition.args.kw_defaults, strict=True)
                        if d is not None}
            old_defaults, old_keywords = function.__defaults__, function.__kwdefaults__
            function.__defaults__ = positional or None
            function.__kwdefaults__ = keywords or None
            undo.append(lambda: (setattr(function, "__defaults__", old_defaults),
                                 setattr(function, "__kwdefaults__", old_keywords)))
        else:
            target = _assignment_of(tree, list(ast.walk(tree))[mutant.index])
            assert target is not None
            owner: Any = module
            for name in target[:-1]:
                owner = getattr(owner, name)
            statement = _statement(tree, target)
            value = eval(compile(ast.Expression(statement.value), filename, "eval"),
                         vars(module), dict(vars(owner)) if owner is not module else None)
            old_value = getattr(owner, target[-1])
            holders = [owner] + ([m for m in list(sys.modules.values())
                                  if getattr(m, "__name__", "").startswith("convviz_widgets")
                                  and m is not module
                                  and getattr(m, target[-1], None) is old_value]
                                 if owner is module else [])
            for holder in holders:
                setattr(holder, target[-1], value)
                undo.append(lambda holder=holder: setattr(holder, target[-1], old_value))
        _clear_caches()  # a table cached before the mutant would hide it
        yield
    finally:
        for step in reversed(undo):
            step()
        _clear_caches()


def _definition(tree: ast.Module, unit: tuple[str, ...]) -> ast.FunctionDef:
    body: list[ast.stmt] = tree.body
    node: Any = None
    for name in unit:
        node = next(s for s in body if isinstance(s, (ast.ClassDef, ast.FunctionDef,
                                                       ast.AsyncFunctionDef)) and s.name == name)
        body = node.body
    return node


def _statement(tree: ast.Module, target: tuple[str, ...]) -> Any:
    body: list[ast.stmt] = tree.body
    for name in target[:-1]:
        body = next(s for s in body if isinstance(s, ast.ClassDef) and s.name == name).body
    for statement in body:
        targets = (statement.targets if isinstance(statement, ast.Assign) else
                   [statement.target] if isinstance(statement, ast.AnnAssign) else [])
        if any(isinstance(t, ast.Name) and t.id == target[-1] for t in targets):
            return statement
    raise LookupError(target)


def _clear_caches() -> None:
    for name, module in list(sys.modules.items()):
        if name.startswith("convviz_widgets"):
            for value in list(vars(module).values()):
                if callable(getattr(value, "cache_clear", None)):
                    value.cache_clear()


# --------------------------------------------------------------------------- the worker


class Recorder:
    """A pytest plugin that records, per test, the functions of the targets it ran and how
    long it took."""

    def __init__(self, trees: dict[str, ast.Module]) -> None:
        self.ranges: dict[str, list[tuple[int, int, tuple[str, ...]]]] = {}
        for path, tree in trees.items():
            self.ranges[str(REPO / path)] = _unit_ranges(tree)
        self.units: dict[str, set[tuple[str, tuple[str, ...]]]] = defaultdict(set)
        self.seconds: dict[str, float] = {}
        self.failed: list[str] = []
        self._current: set | None = None
        self._codes: dict[types.CodeType, tuple[str, tuple[str, ...]] | None] = {}
        self._paths = {str(REPO / p): p for p in trees}

    def _profile(self, frame, event, arg):
        if event != "call" or self._current is None:
            return
        code = frame.f_code
        unit = self._codes.get(code, False)
        if unit is False:
            unit = None
            ranges = self.ranges.get(code.co_filename)
            if ranges is not None:
                for start, end, name in ranges:
                    if start <= code.co_firstlineno <= end:
                        unit = (self._paths[code.co_filename], name)
                        break
            self._codes[code] = unit
        if unit is not None:
            self._current.add(unit)

    def pytest_runtest_protocol(self, item, nextitem):
        import threading

        # Each test computes its cached tables itself, so it is recorded as running the
        # functions behind them (the mutants clear them too).
        _clear_caches()
        self._current = self.units[item.nodeid]
        started = time.perf_counter()
        sys.setprofile(self._profile)
        threading.setprofile(self._profile)
        yield
        sys.setprofile(None)
        threading.setprofile(None)
        self.seconds[item.nodeid] = time.perf_counter() - started
        self._current = None

    pytest_runtest_protocol.hookwrapper = True  # type: ignore[attr-defined]

    def pytest_runtest_logreport(self, report):
        if report.failed:
            self.failed.append(report.nodeid)


class Failures:
    """A pytest plugin that lists the tests that failed."""

    def __init__(self) -> None:
        self.failed: list[str] = []

    def pytest_runtest_logreport(self, report):
        if report.failed:
            self.failed.append(report.nodeid)


def _unit_ranges(tree: ast.Module) -> list[tuple[int, int, tuple[str, ...]]]:
    """(first line, last line, unit) of every outermost function, and of module constants."""
    found = []

    def visit(body: list[ast.stmt], prefix: tuple[str, ...]) -> None:
        for statement in body:
            if isinstance(statement, ast.ClassDef):
                visit(statement.body, (*prefix, statement.name))
            elif isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)):
                found.append((_first_line(statement), statement.end_lineno or statement.lineno,
                              (*prefix, statement.name)))

    visit(tree.body, ())
    return found


def _quiet(log: Path) -> None:
    stream = open(log, "a", buffering=1)  # noqa: SIM115 — the worker's output, for its life
    os.dup2(stream.fileno(), 1)
    os.dup2(stream.fileno(), 2)
    sys.stdout = sys.stderr = stream


def _without_autograph(tf: Any) -> None:
    """Make every ``tf.function`` trace the Python code it is given, as it is.

    AutoGraph rewrites a traced function from its *source file*, so a mutant applied in memory
    (a new ``__code__``) would be traced as the unmutated file reads, and the functions it
    calls would never show up in the coverage profile: every mutant inside a traced function
    survived, unseen. The engine's traced functions use no tensor-dependent Python control
    flow (the suite passes without AutoGraph), so turning it off changes nothing else.
    """
    original = tf.function

    @functools.wraps(original)
    def function(*args: Any, **kwargs: Any) -> Any:
        kwargs["autograph"] = False
        return original(*args, **kwargs)

    tf.function = function


def worker(connection, paths: list[str], record: bool, log: str) -> None:
    """Import everything once; record coverage if asked; then run mutants sent one by one."""
    os.chdir(REPO)
    sys.path[:0] = [str(REPO), str(REPO / "tests")]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    _quiet(Path(log))
    import pytest
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)  # the machine is shared
    tf.config.threading.set_inter_op_parallelism_threads(1)
    _without_autograph(tf)
    trees = {p: ast.parse((REPO / p).read_text(encoding="utf-8")) for p in paths}
    for path in paths:
        importlib.import_module(_module_name(path))
    if record:
        recorder = Recorder(trees)
        code = pytest.main([*PYTEST_ARGS, *TESTS], plugins=[recorder])
        units = {test: sorted([p, list(u)] for p, u in found)
                 for test, found in recorder.units.items()}
        # Every mutant runs its tests again in this process: a test that cannot pass twice
        # in one process (state kept at import) would kill mutants by itself. Find them.
        again = Failures()
        pytest.main([*PYTEST_ARGS, *TESTS], plugins=[again])
        connection.send({"exit": int(code), "failed": recorder.failed, "units": units,
                         "seconds": recorder.seconds, "not_rerunnable": again.failed})
    else:
        connection.send({"ready": True})
    while True:
        message = connection.recv()
        if message is None:
            return
        mutant = Mutant(**{**message["mutant"], "unit": tuple(message["mutant"]["unit"])})
        started = time.perf_counter()
        try:
            with contextlib.nullcontext() if mutant.kind == "none" else applied(mutant, trees):
                code = pytest.main([*PYTEST_ARGS, "-x", *message["tests"]])
            status = "survived" if code == 0 else "killed"
        except Exception as error:  # the mutant could not be applied: say so, keep going
            print(f"mutant {mutant.id} not applied: {type(error).__name__}: {error}")
            status = "error"
        connection.send({"status": status, "seconds": time.perf_counter() - started})


class Worker:
    """A worker process and its pipe; replaced when a mutant hangs."""

    def __init__(self, paths: list[str], record: bool = False) -> None:
        context = multiprocessing.get_context("spawn")
        self.connection, child = context.Pipe()
        OUT.mkdir(exist_ok=True)
        self.process = context.Process(target=worker, daemon=True,
                                       args=(child, paths, record, str(OUT / "worker.log")))
        self.process.start()
        self.first = self.connection.recv()

    def run(self, mutant: Mutant, tests: list[str], timeout: float) -> dict | None:
        self.connection.send({"mutant": asdict(mutant), "tests": tests})
        if self.connection.poll(timeout):
            return self.connection.recv()
        return None

    def memory(self) -> float:
        """The worker's resident memory in GiB (0 where ``/proc`` is not there)."""
        try:
            status = Path(f"/proc/{self.process.pid}/status").read_text(encoding="ascii")
        except OSError:
            return 0.0
        kib = next((int(line.split()[1]) for line in status.splitlines()
                    if line.startswith("VmRSS:")), 0)
        return kib / 2**20

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.connection.send(None)
        self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


# --------------------------------------------------------------------------- the run


@dataclass
class Coverage:
    """Which tests ran which function, and how long each test took."""

    tests_of: dict[tuple[str, tuple[str, ...]], list[str]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    @classmethod
    def of(cls, recorded: dict) -> Coverage:
        tests_of: dict[tuple[str, tuple[str, ...]], list[str]] = defaultdict(list)
        for test, units in recorded["units"].items():
            for path, unit in units:
                tests_of[(path, tuple(unit))].append(test)
        return cls(dict(tests_of), recorded["seconds"])

    def tests_for(self, mutant: Mutant) -> list[str]:
        """The tests that ran the mutated code: those of the module's own test file first
        (``test_render.py`` for ``render.py``), then the others, each group fastest first."""
        if mutant.kind == "constant":
            tests = {t for (path, _), found in self.tests_of.items() if path == mutant.path
                     for t in found}
        else:
            tests = set(self.tests_of.get((mutant.path, mutant.unit), []))
        own = f"test_{Path(mutant.path).stem}"
        return sorted(tests, key=lambda test: (own not in test, self.seconds.get(test, 0.0)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("only", nargs="*", help="mutate only targets whose path contains these")
    parser.add_argument("--list", action="store_true", help="count the mutants; run nothing")
    parser.add_argument("--again", action="store_true",
                        help="run only the mutants that survived the last run (after new tests)")
    parser.add_argument("--timeout", type=float, default=60.0,
                        help="seconds before a mutant counts as hanging (default 60)")
    parser.add_argument("--worker-memory", type=float, default=4.0,
                        help="GiB of memory after which the worker is replaced (default 4)")
    args = parser.parse_args(argv)
    paths = [p for p in TARGETS if not args.only or any(word in p for word in args.only)]
    mutants = find_mutants(paths)
    print(f"{len(mutants)} mutants in {len(paths)} modules")
    earlier: dict[tuple[str, int, int], dict] = {}
    if args.again:
        earlier = {(m["path"], m["index"], m["variant"]): m
                   for m in json.loads((OUT / "mutants.json").read_text(encoding="utf-8"))}
    if args.list:
        for path in paths:
            print(f"  {path}: {sum(m.path == path for m in mutants)}")
        return 0
    started = time.perf_counter()
    worker_process = Worker(paths, record=True)
    recorded = worker_process.first
    if recorded["exit"] != 0:
        print(f"the tests fail without any mutant ({recorded['failed'][:5]}); fix them first.")
        worker_process.stop()
        return 2
    coverage = Coverage.of(recorded)
    for test in recorded["not_rerunnable"]:
        print(f"left out (fails when run a second time in one process): {test}")
        for tests in coverage.tests_of.values():
            with contextlib.suppress(ValueError):
                tests.remove(test)
    print(f"tests recorded in {time.perf_counter() - started:.0f} s; running mutants")
    try:
        for number, mutant in enumerate(mutants, 1):
            before = earlier.get((mutant.path, mutant.index, mutant.variant))
            if before is not None and before["status"] in ("killed", "timeout"):
                mutant.status, mutant.seconds = before["status"], before["seconds"]
                continue
            tests = coverage.tests_for(mutant)
            mutant.tests = len(tests)
            if not tests:
                mutant.status = "uncovered"
                continue
            budget = args.timeout + sum(coverage.seconds.get(t, 0.0) for t in tests) * 3
            answer = worker_process.run(mutant, tests, budget)
            if answer is None:
                mutant.status, mutant.seconds = "timeout", budget
                worker_process.process.kill()
                worker_process = Worker(paths)
            else:
                mutant.status, mutant.seconds = answer["status"], answer["seconds"]
                if worker_process.memory() > args.worker_memory:
                    worker_process.stop()
                    worker_process = Worker(paths)
            if number % 25 == 0 or number == len(mutants):
                done = mutants[:number]
                killed = sum(m.status in ("killed", "timeout") for m in done)
                print(f"  {number}/{len(mutants)}: {killed} killed "
                      f"({time.perf_counter() - started:.0f} s)", flush=True)
        # The same worker, with nothing mutated, must still pass: no mutant left a trace.
        rerunnable = [t for t in recorded["seconds"] if t not in recorded["not_rerunnable"]]
        clean = worker_process.run(Mutant(-1, paths[0], 0, "", "", 0, 0, "none", (), 0),
                                   rerunnable, 600)
    finally:
        worker_process.stop()
    elapsed = time.perf_counter() - started
    report(mutants, paths, elapsed, clean)
    return 0


def report(mutants: list[Mutant], paths: list[str], elapsed: float, clean: dict | None) -> None:
    lines = [f"Mutation testing: {len(mutants)} mutants, {elapsed / 60:.1f} minutes", ""]
    total_killed = 0
    for path in paths:
        mine = [m for m in mutants if m.path == path]
        killed = sum(m.status in ("killed", "timeout") for m in mine)
        total_killed += killed
        if mine:
            lines.append(f"{path:52} {killed:4} / {len(mine):4} killed "
                         f"({100 * killed / len(mine):5.1f} %)")
    lines.append(f"{'all':52} {total_killed:4} / {len(mutants):4} killed "
                 f"({100 * total_killed / max(1, len(mutants)):5.1f} %)")
    if clean is not None and clean.get("status") != "survived":
        lines.append("WARNING: the tests failed after the run with nothing mutated: a mutant may "
                     "have left state behind; the figures above are suspect.")
    survivors = [m for m in mutants if m.status not in ("killed", "timeout")]
    lines += ["", f"Survivors ({len(survivors)}):"]
    for m in survivors:
        where = ".".join(m.unit) or "(module)"
        lines.append(f"  {m.path}:{m.line} {where}: {m.operator}: {m.change} [{m.status}]")
    text = "\n".join(lines)
    print(text)
    OUT.mkdir(exist_ok=True)
    (OUT / "report.txt").write_text(text + "\n", encoding="utf-8")
    (OUT / "mutants.json").write_text(json.dumps([asdict(m) for m in mutants], indent=1),
                                      encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
