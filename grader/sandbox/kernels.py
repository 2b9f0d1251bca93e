"""Built-in recurrent kernels made unusable in the process that runs student code.

`disable()` registers, for every dispatcher operator that runs a recurrence (RNN, GRU, LSTM; layer
or cell; every namespace and backend), a kernel that raises, on every dispatch key the operator
had a kernel for, and on CompositeImplicitAutograd so that keys without one land there too. It
also turns torch's own Python recurrences (decompositions, the quantizable LSTM, export's
while-loop RNNs) into code that raises, and refuses to run any module file loaded so far a second
time (a fresh copy, by path, bytecode or reload, would hold the recurrences unrefused). No Python
object refers to the registration handles, so Python code cannot undo them; an impl a student
registers later runs only the student's own code.

Call it only in the fork server or a child, never in the grader's process: parity runs nn.RNN.
"""

from __future__ import annotations

import ctypes
import importlib
import os
import re
import sys
import types
import warnings
from collections.abc import Callable, Iterator
from typing import Any, NoReturn

import torch

# Captured at import, in the fork server, before any student code can replace them.
_all_op_names = torch._C._dispatch_get_all_op_names
_dump = torch._C._dispatch_dump
_library = torch._C._dispatch_library
_incref = ctypes.pythonapi.Py_IncRef
_untrack = ctypes.pythonapi.PyObject_GC_UnTrack
_py_object = ctypes.py_object

MESSAGE = "built-in recurrent kernels are disabled while grading"
_RECURRENT = re.compile(r"rnn|gru|lstm", re.IGNORECASE)
# Operators with a recurrent name that compute no recurrence: building an nn.RNN on CUDA uses them.
_BUILDS_ONLY = frozenset({"aten::_cudnn_rnn_flatten_weight", "aten::_use_cudnn_rnn_flatten_weight"})
_KEY_LINE = re.compile(r"^(\w+)(?:\[alias\])?: registered at ", re.MULTILINE)
_NOT_KEYS = frozenset({"debug", "name", "schema"})
_ALWAYS = "CompositeImplicitAutograd"  # where a key without a kernel of its own falls
# Modules of torch that compute recurrences in Python; their recurrent functions are refused.
_PYTHON_RECURRENCES = (
    "torch._decomp.decompositions",
    "torch.export._patches",
    "torch.ao.nn.quantizable.modules.rnn",
)
# Read by students of every assignment (the sandbox serves them all): no one assignment's words.
_HINT = (
    ": write the recurrence yourself with matrix products and elementwise functions"
    " (a function may build a recurrent torch module and return it, but not run it)"
)

_state = {"done": False}


def disable() -> list[str]:
    """Refuse every built-in recurrence in this process from now on; idempotent.

    Returns what could not be refused (empty when all is well)."""
    if _state["done"]:
        return []
    _state["done"] = True
    operators = recurrent_operators()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "overriding a previously registered kernel", each time
        failures = _refuse_operators(operators)
    failures += _refuse_python_recurrences()
    _refuse_second_copies()
    return failures


def recurrent_operators() -> list[str]:
    """Qualified names (ns::name.overload) of the registered operators that run a recurrence."""
    names = []
    for full in _all_op_names():
        lowered = full.lower()  # a cheap first look: most of the ~3,600 names fail it
        if not ("rnn" in lowered or "gru" in lowered or "lstm" in lowered):
            continue
        if _RECURRENT.search(full.partition("::")[2]) and full.split(".")[0] not in _BUILDS_ONLY:
            names.append(full)
    return sorted(names)


def _keys(full: str) -> set[str]:
    found = {key for key in _KEY_LINE.findall(_dump(full)) if key not in _NOT_KEYS}
    return found | {_ALWAYS}


def _refuse_operators(operators: list[str]) -> list[str]:
    handles: dict[str, Any] = {}
    failures = []
    for full in operators:
        namespace, _, name = full.partition("::")
        if namespace not in handles:
            handles[namespace] = _library("IMPL", namespace, "")
        kernel = _refuser(f"{MESSAGE}: {full}{_HINT}")
        for key in sorted(_keys(full)):
            try:
                handles[namespace].impl(name, key, kernel)
            except (RuntimeError, TypeError, ValueError) as exc:
                failures.append(f"{full} on {key}: {exc}")
    for handle in handles.values():
        _incref(_py_object(handle))  # pinned for the life of the process: nothing can free it
    handles.clear()  # ... and nothing in Python refers to it, so nothing can reset() it
    return failures


def _refuser(message: str) -> Callable[..., NoReturn]:
    def refuse(*args: object, **kwargs: object) -> NoReturn:
        raise RuntimeError(message)

    _untrack(_py_object(refuse))  # gc.get_objects() cannot hand it to student code
    return refuse


def _refuse_python_recurrences() -> list[str]:
    failures = []
    for function, where in _python_recurrences():
        try:
            function.__code__ = _raising_code(len(function.__code__.co_freevars), where)
        except (AttributeError, TypeError, ValueError) as exc:
            failures.append(f"{where}: {exc}")
    return failures


def _python_recurrences() -> Iterator[tuple[types.FunctionType, str]]:
    """torch's Python functions that compute a recurrence, with where they are defined."""
    for module_name in _PYTHON_RECURRENCES:
        try:
            module = sys.modules.get(module_name) or importlib.import_module(module_name)
        except ImportError:
            continue
        for name, item in list(vars(module).items()):
            if getattr(item, "__module__", None) != module_name or not _RECURRENT.search(name):
                continue
            if isinstance(item, types.FunctionType):
                yield item, f"{module_name}.{name}"
            elif isinstance(item, type):
                yield from _methods(item, f"{module_name}.{name}")
    for op in _recurrent_overloads():
        for kernel in list(op.py_kernels.values()):
            # Only a recurrence's own kernel: a shared wrapper would take other operators along.
            if isinstance(kernel, types.FunctionType) and _RECURRENT.search(kernel.__name__):
                yield kernel, f"{op} (Python kernel)"
        op._dispatch_cache.clear()


def _methods(cls: type, where: str) -> Iterator[tuple[types.FunctionType, str]]:
    for name in ("forward", "__call__"):
        method = cls.__dict__.get(name)
        if isinstance(method, types.FunctionType):
            yield method, f"{where}.{name}"


def _recurrent_overloads() -> Iterator[Any]:
    """The recurrent OpOverloads Python already made: only those can hold Python kernels."""
    for namespace in list(vars(torch.ops).values()):
        if not isinstance(namespace, torch._ops._OpNamespace):
            continue
        for name, packet in list(vars(namespace).items()):
            if not (_RECURRENT.search(name) and isinstance(packet, torch._ops.OpOverloadPacket)):
                continue
            for op in list(vars(packet).values()):
                if isinstance(op, torch._ops.OpOverload):
                    yield op


def _refuse_second_copies() -> None:
    """From now on, running code from the file of a module already loaded raises (an audit hook:
    no Python code can remove it); a first import of a new module still runs. Files are told by
    device and inode, so a link or a path through `..` is the same file."""
    refusals: dict[tuple[int, int], str] = {}  # a loaded module's file -> what running it raises
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__dict__", {}).get("__file__")
        try:
            found = os.stat(file) if isinstance(file, str) else None
        except (OSError, ValueError):
            continue
        if found is not None:
            message = f"{MESSAGE}: {name} (loaded again from its file){_HINT}"
            refusals.setdefault((found.st_dev, found.st_ino), message)
    _untrack(_py_object(refusals))  # gc.get_objects() cannot hand it to student code
    hook = _copy_refuser(refusals, os.stat, RuntimeError, (OSError, ValueError))
    for held in (hook, *(hook.__closure__ or ())):
        _untrack(_py_object(held))  # out of gc's sight; untracked, never to be freed: pinned
        _incref(_py_object(held))
    sys.addaudithook(hook)


def _copy_refuser(
    refusals: dict[tuple[int, int], str],
    stat: Callable[[str], os.stat_result],
    error: type[Exception],
    missing: tuple[type[Exception], ...],
) -> Callable[[str, tuple[Any, ...]], None]:
    """The audit hook; it reads no global and no builtin (student code could replace those): all
    it calls is bound here, in the fork server."""

    def refuse_copies(event: str, args: tuple[Any, ...]) -> None:
        if event != "exec":
            return
        try:
            found = stat(args[0].co_filename)
        except missing:
            return  # "<string>" and other code that no file holds
        message = refusals.get((found.st_dev, found.st_ino))
        if message is not None:
            raise error(message)

    return refuse_copies


_TEMPLATES: dict[int, types.CodeType] = {}  # free variables -> code that raises _PLACEHOLDER
_PLACEHOLDER = "<disabled recurrence>"


def _raising_code(freevars: int, where: str) -> types.CodeType:
    """A code object that raises, with as many free variables as the one it replaces."""
    template = _TEMPLATES.get(freevars)
    if template is None:
        template = _TEMPLATES[freevars] = _template(freevars)
    message = f"{MESSAGE}: {where}{_HINT}"
    consts = tuple(message if c == _PLACEHOLDER else c for c in template.co_consts)
    return template.replace(co_consts=consts)


def _template(freevars: int) -> types.CodeType:
    names = [f"_f{i}" for i in range(freevars)]
    source = "def _outer():\n"
    source += "".join(f"    {n} = None\n" for n in names)
    source += "    def refused(*args, **kwargs):\n"
    source += f"        raise RuntimeError({_PLACEHOLDER!r})\n"
    source += "".join(f"        {n}\n" for n in names)  # unreachable, but makes them free
    source += "    return refused\n"
    namespace: dict[str, Any] = {}
    exec(compile(source, "<disabled recurrence>", "exec"), namespace)
    code: types.CodeType = namespace["_outer"]().__code__
    return code
