"""The probe the release tests run on an unpacked student wheel, in a process of its own.

Run as a script (`python -I -S thisfile WHEEL_DIR SITE_DIR CASES_JSON [PREFIX]`): it imports
every module of the wheel's `grader` package, found under WHEEL_DIR only, and calls every
function, class, static, class and plain method defined there on each case of CASES_JSON,
positionally and by keyword, each call in a forked child with a time limit. It prints one JSON
line per call that returned, anywhere in its result, a case's right forward output (or its h_n).
Here, collected by pytest, it is only a module of helpers: it defines no tests.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import json
import os
import pkgutil
import select
import signal
import sys
from collections.abc import Callable, Iterator
from typing import Any

CALL_SECONDS = 3  # each call's limit; the child is killed when one runs past it twice over
_NODES = 2000  # the most values looked at in one result


def main(wheel: str, site: str, cases_path: str, prefix: str = "grader") -> int:
    sys.path[:0] = [wheel]
    sys.path.append(site)  # torch and the other dependencies: no .pth files, no checkout
    import torch

    with open(cases_path, encoding="utf-8") as file:
        cases = [_case(torch, c) for c in json.load(file)]
    import grader

    assert grader.__file__.startswith(wheel), grader.__file__
    targets = _callables(prefix)
    print(json.dumps({"callables": len(targets)}), flush=True)
    for label, variant in _calls(targets, cases):
        print(json.dumps({"match": label, "variant": variant}), flush=True)
    return 0


def _case(torch: Any, data: dict[str, Any]) -> dict[str, Any]:
    tensors = {k: torch.tensor(v["values"], dtype=getattr(torch, v["dtype"])) for k, v in
               data["tensors"].items()}  # fmt: skip
    wanted = [torch.tensor(w, dtype=torch.float64) for w in data["wanted"]]
    return {"name": data["name"], "tensors": tensors, "wanted": wanted,
            "keywords": data["keywords"]}  # fmt: skip


def _callables(prefix: str) -> list[tuple[str, Callable[..., Any]]]:
    """Every function, class and method the wheel's modules under `prefix` define."""
    import grader

    names = ["grader", *(m.name for m in pkgutil.walk_packages(grader.__path__, "grader."))]
    found: list[tuple[str, Callable[..., Any]]] = []
    for name in names:
        if not name.startswith(prefix) or name.endswith("__main__"):
            continue  # __main__ runs the command line when imported
        module = importlib.import_module(name)
        for attr, value in vars(module).items():
            if getattr(value, "__module__", None) != name:
                continue
            if inspect.isfunction(value):
                found.append((f"{name}.{attr}", value))
            elif inspect.isclass(value):
                found.append((f"{name}.{attr}", value))
                found += [(f"{name}.{attr}.{k}", getattr(value, k)) for k, v in _methods(value)]
    return found


def _methods(cls: type) -> list[tuple[str, Any]]:
    """Static, class and plain methods a class defines (plain ones called unbound)."""
    kinds = (staticmethod, classmethod)
    return [(k, v) for k, v in vars(cls).items() if isinstance(v, kinds) or inspect.isfunction(v)]


def _calls(
    targets: list[tuple[str, Callable[..., Any]]], cases: list[dict[str, Any]]
) -> Iterator[tuple[str, str]]:
    """(callable, variant) of every call that returned a right answer."""
    for label, function in targets:
        yield from ((label, variant) for variant in _in_child(function, cases))


def _in_child(function: Callable[..., Any], cases: list[dict[str, Any]]) -> list[str]:
    """The matching variants of calling `function`, called in a forked child of its own (no
    call sees what another did to its process), killed with whatever it started, at the latest
    once it stops answering."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        _child(read, write, function, cases)
    os.close(write)
    matches, buffer = [], b""
    while select.select([read], [], [], 2 * CALL_SECONDS + 5)[0]:
        chunk = os.read(read, 65536)
        if not chunk:
            break  # finished or died; no answer within the limit: hung
        *lines, buffer = (buffer + chunk).split(b"\n")
        matches += [line.decode() for line in lines]
    os.close(read)
    for group in (True, False):  # the child, and whatever it started
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL) if group else os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return matches


def _child(read: int, write: int, function: Callable[..., Any], cases: list[Any]) -> None:
    """Call `function` every way, one line per match; never returns."""
    os.close(read)
    os.setsid()
    quiet = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):  # what the calls print stays out of the probe's report
        os.dup2(quiet, fd)
    for variant in _matching(function, cases):
        os.write(write, f"{variant}\n".encode())
    os._exit(0)


def _matching(function: Callable[..., Any], cases: list[dict[str, Any]]) -> Iterator[str]:
    """The variants of calling `function` whose result holds a case's right answer."""
    for case in cases:
        tensors = list(case["tensors"].values())
        variants = {"positional": (tensors, {})}
        for number, names in enumerate(case["keywords"]):
            keywords = dict(zip(names, tensors, strict=True))
            variants[f"keywords{number}"] = ([], keywords)
            variants[f"named{number}"] = ([], _named(function, keywords))
        for how, (args, kwargs) in variants.items():
            copies = [t.clone() for t in args]
            named = {k: t.clone() for k, t in kwargs.items()}
            result = _call(function, copies, named)
            if result is not None and _call(_holds, [result, case["wanted"], case["tensors"]], {}):
                yield f"{case['name']}:{how}"


def _named(function: Callable[..., Any], keywords: dict[str, Any]) -> dict[str, Any]:
    """Of `keywords`, those `function` has parameters for (all, if it takes **kwargs)."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return keywords
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return keywords
    return {p.name: keywords[p.name] for p in parameters if p.name in keywords}


def _call(function: Callable[..., Any], args: list[Any], kwargs: dict[str, Any]) -> Any:
    def expire(signum: int, frame: Any) -> None:
        raise TimeoutError

    signal.signal(signal.SIGALRM, expire)
    signal.alarm(CALL_SECONDS)
    try:
        return function(*args, **kwargs)
    except BaseException:  # anything at all: exits, interrupts, errors
        return None
    finally:
        signal.alarm(0)


def _holds(result: Any, wanted: list[Any], inputs: dict[str, Any]) -> bool:
    """Whether a right answer is anywhere in `result`: tensors, containers, objects' fields,
    a few items of an iterator, a returned module's output on the case."""
    import torch

    seen: set[int] = set()
    pending, budget = [(result, 0)], _NODES

    def close(tensor: torch.Tensor) -> bool:
        flat = tensor.detach().to("cpu", torch.float64).reshape(-1)
        for want in wanted:
            for layout in (want.reshape(-1), want.transpose(0, 1).reshape(-1) if want.dim() > 1
                           else want.reshape(-1)):  # fmt: skip
                if flat.numel() == layout.numel() and torch.allclose(flat, layout, 1e-4, 1e-5):
                    return True
        return False

    try:
        while pending and budget > 0:
            value, depth = pending.pop()
            budget -= 1
            if id(value) in seen or depth > 6:
                continue
            seen.add(id(value))
            if isinstance(value, torch.Tensor):
                if value.is_floating_point() and value.numel() > 0 and close(value):
                    return True
                continue
            pending += [(v, depth + 1) for v in _parts(value, inputs)]
    except BaseException:
        return False
    return False


def _parts(value: Any, inputs: dict[str, Any]) -> list[Any]:
    import torch

    if isinstance(value, str | bytes | int | float | bool | type(None)):
        return []
    if isinstance(value, dict):
        return [*value.keys(), *value.values()]
    if isinstance(value, list | tuple | set | frozenset):
        return list(value)
    if isinstance(value, torch.nn.Module):
        return [*value.parameters(), *_module_outputs(value, inputs)]
    if inspect.isgenerator(value) or (hasattr(value, "__next__") and hasattr(value, "__iter__")):
        return [item for _, item in zip(range(50), value, strict=False)]
    fields = getattr(value, "__dict__", None)
    return list(fields.values()) if isinstance(fields, dict) else []


def _module_outputs(module: Any, inputs: dict[str, Any]) -> list[Any]:
    """A returned module run on the case, as a student would run it."""
    x, h0 = inputs["x"], inputs["h0"]
    starts = [h0.unsqueeze(0)]
    if "c0" in inputs:
        starts = [(h0.unsqueeze(0), inputs["c0"].unsqueeze(0))]
    outputs = []
    for start in starts:
        with contextlib.suppress(BaseException):
            outputs.append(module(x, start))
    return outputs


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
