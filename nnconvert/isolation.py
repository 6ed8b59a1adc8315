"""``nnconvert check ORIGINAL REWRITE`` runs REWRITE in a child process.

The file being checked is code nnconvert did not write. Imported into the
checker's process it could replace the checker's own functions
(``nnconvert.check.compare``, ``torch.testing.assert_close``) and pass any
check. So it runs in a forked child that holds only the rewrite: the parent
sends it weights and inputs, the child sends back what the rewrite computed
(outputs, buffers, parameters and gradients after a train step), and the
parent compares. What comes back is read with ``torch.load(weights_only=True)``
-- tensors and plain containers, never an object whose loading runs code --
so nothing the child does reaches the verdict except the numbers it returns.

The cost is the child's start-up, a second import of torch, which runs
while the parent loads ORIGINAL: on LeNet, 7.5 s -> 10.1 s of CPU and
15-19 s -> 24-26 s wall on a 2-core machine at load 7 (an idle machine pays
about the import, 1-2 s). A forked child would share the parent's imports,
but a fork of a process that ran torch ops can hang on a lock its other
threads held: it did here, in a benchmark that checked twice.
"""

from __future__ import annotations

import io
import multiprocessing
import os
import sys
import traceback
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn
from torch.utils._pytree import tree_flatten

from .check import (
    SEED,
    Candidate,
    FlatOutput,
    RewriteFailed,
    TrainStep,
    function_candidate,
    module_candidate,
    train_step,
)
from .errors import CheckError, InputError, NnconvertError
from .reporting import exit_message, one_line

#: what a child sends back that is a plain value, kept as it is
_PLAIN = (torch.Tensor, torch.Size, int, float, bool, complex, str, type(None))


class IsolatedRewrite:
    """The REWRITE file, loaded and run in a child process; :meth:`candidate` per check.

    The child starts at once (its start-up overlaps the loading of ORIGINAL);
    :meth:`pick` then names what is checked: the class or function of the
    file named like the original's class, else the last one.
    """

    def __init__(self, rewrite: Path):
        self.rewrite = rewrite
        self.name = ""
        # spawn, not fork: a fork of a process that ran torch can hang in a lock
        context = multiprocessing.get_context("spawn")
        self._connection, child_end = context.Pipe()
        self._process = context.Process(
            target=_serve, args=(child_end, rewrite), daemon=True
        )
        sys.stdout.flush()
        sys.stderr.flush()
        self._process.start()
        child_end.close()

    def pick(self, original_class: str) -> str:
        """Import REWRITE in the child and choose its model; its name."""
        self._send(("pick", original_class))
        self.name = str(self._receive("loading the file")["name"])
        return self.name

    def __enter__(self) -> "IsolatedRewrite":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def candidate(self, model: nn.Module) -> Candidate:
        """A fresh rewrite in the child holding ``model``'s weights, in its mode."""
        state = model.state_dict()
        self._send(
            (
                "make",
                state,
                [k for k, _ in model.named_parameters() if k in state],
                [k for k, _ in model.named_buffers() if k in state],
                model.training,
            )
        )
        self._receive("building the rewrite")
        return Candidate(
            run=self._run,
            buffers=_unused,
            parameters=_unused,
            train_step=self._train_step,
            stored=self._stored,
        )

    def close(self) -> None:
        """End the child (it may be stuck in the rewrite's code: then it is killed)."""
        try:
            self._send(("stop",))
        except (OSError, ValueError):
            pass
        self._process.join(timeout=5)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
        self._connection.close()

    def _run(self, inputs: Sequence[Any], training: bool) -> Any:
        self._send(("run", tuple(inputs), training))
        return _output(self._receive("running the rewrite")["outputs"])

    def _stored(self, name: str) -> Any:
        self._send(("stored", name))
        return self._receive("reading what the rewrite stored")["value"]

    def _train_step(self, inputs: Sequence[Any]) -> TrainStep:
        self._send(("train", tuple(inputs)))
        found = self._receive("running the rewrite in train mode")
        return TrainStep(
            _output(found["outputs"]),
            _tensors(found["buffers"]),
            _tensors(found["parameters"]),
            _tensors(found["gradients"]),
        )

    def _send(self, message: tuple) -> None:
        buffer = io.BytesIO()
        torch.save(message, buffer)
        self._connection.send_bytes(buffer.getvalue())

    def _receive(self, doing: str) -> dict[str, Any]:
        """The child's answer, loaded as data only; its errors raised here."""
        try:
            data = self._connection.recv_bytes()
        except (EOFError, OSError):
            self._process.join(timeout=5)
            raise InputError(
                f"{self.rewrite}: the file ended the checker's child process "
                f"(exit code {self._process.exitcode}) while {doing}"
            ) from None
        try:
            answer = torch.load(io.BytesIO(data), weights_only=True)
        except Exception as error:
            raise CheckError(
                f"{self.rewrite}: what the rewrite returned while {doing} is not "
                f"tensors and plain containers ({one_line(error)})"
            ) from None
        if not isinstance(answer, dict):
            raise CheckError(f"{self.rewrite}: unreadable answer while {doing}")
        _raise_error_of(answer)
        return answer


def _raise_error_of(answer: dict[str, Any]) -> None:
    """An error the child reported, raised as the in-process check would raise it."""
    kind = answer.get("error")
    message = str(answer.get("message", ""))
    if kind == "input":
        raise InputError(message)
    if kind == "check":
        raise CheckError(message)
    if kind == "failed":
        raise RewriteFailed(str(answer.get("type", "Exception")), message)
    if kind is not None:
        raise CheckError(message)


def _unused() -> dict[str, torch.Tensor]:
    """An isolated candidate reports buffers and parameters through its train step only."""
    raise AssertionError("an isolated rewrite has no tensors in the checker's process")


def _output(payload: Any) -> Any:
    """An output as sent: the value itself when plain, else a :class:`FlatOutput`."""
    if not isinstance(payload, dict) or "leaves" not in payload:
        raise CheckError("unreadable output from the rewrite's process")
    if payload.get("plain"):
        return payload["value"]
    return FlatOutput(list(payload["leaves"]), str(payload["structure"]))


def _tensors(value: Any) -> dict[str, Any]:
    """A dict of tensors (or None) by key, as a train step sends them."""
    if not isinstance(value, dict):
        raise CheckError("unreadable train step from the rewrite's process")
    return {str(k): v for k, v in value.items()}


# -- the child ---------------------------------------------------------------------


def _serve(connection: Any, rewrite: Path) -> None:
    """The child: on "pick" load REWRITE, then answer the parent's requests until "stop".

    The user's prints go to stderr (stdout is the parent's verdict).
    """
    sys.stdout.flush()
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    candidate: Candidate | None = None
    make = None
    while True:
        try:
            data = connection.recv_bytes()
        except (EOFError, OSError):
            return
        request = torch.load(io.BytesIO(data), weights_only=False)
        if request[0] == "stop":
            return
        try:
            if request[0] == "pick":
                make, name = _load(rewrite, request[1])
                answer: dict[str, Any] = {"name": name}
            elif request[0] == "make":
                assert make is not None
                candidate = make(_Weights(*request[1:]))
                answer = {}
            elif request[0] == "run":
                assert candidate is not None
                torch.manual_seed(SEED)
                answer = {"outputs": _payload(candidate.run(request[1], request[2]))}
            elif request[0] == "stored":
                assert candidate is not None and candidate.stored is not None
                answer = {"value": _detached(candidate.stored(request[1]))}
            else:
                assert candidate is not None
                step = train_step(candidate, request[1])
                answer = {
                    "outputs": _payload(step.outputs),
                    "buffers": _detached(step.buffers),
                    "parameters": _detached(step.parameters),
                    "gradients": _detached(step.gradients),
                }
        except BaseException as error:  # noqa: B902 -- everything goes to the parent
            doing = "at import" if request[0] == "pick" else "while it runs"
            answer = _error(error, doing)
        _answer(connection, answer)


def _load(rewrite: Path, original_class: str):
    """``(make, name)``: how to build a candidate from weights, and what is checked."""
    from . import loading
    from .api import instantiate

    module = loading.import_file(rewrite)
    classes = loading.model_classes(module)
    if classes:
        same_name = [c for c in classes if c.__name__ == original_class]
        cls = (same_name or classes)[-1]
        return (lambda m: module_candidate(instantiate(cls, m))), cls.__name__
    functions = loading.functional_models(module)
    if not functions:
        raise InputError(
            f"{rewrite}: defines no nn.Module class and no function taking params"
        )
    return (lambda m: function_candidate(functions[-1], m)), functions[-1].__name__


class _Weights:
    """What building a candidate reads of the original: its weights, their kinds, its mode."""

    def __init__(
        self,
        state: dict[str, torch.Tensor],
        parameters: list[str],
        buffers: list[str],
        training: bool,
    ):
        self._state, self._parameters, self._buffers = state, parameters, buffers
        self.training = training

    def state_dict(self) -> dict[str, torch.Tensor]:
        return dict(self._state)

    def named_parameters(self) -> list[tuple[str, torch.Tensor]]:
        return [(k, self._state[k]) for k in self._parameters]

    def named_buffers(self) -> list[tuple[str, torch.Tensor]]:
        return [(k, self._state[k]) for k in self._buffers]


def _error(error: BaseException, doing: str) -> dict[str, Any]:
    """An exception of the child as the parent raises it again."""
    if isinstance(error, SystemExit):
        return {"error": "input", "message": exit_message(error, doing)}
    if isinstance(error, InputError):
        return {"error": "input", "message": str(error)}
    if isinstance(error, NnconvertError):
        return {"error": "check", "message": str(error)}
    if isinstance(error, Exception):
        return {
            "error": "failed",
            "type": type(error).__name__,
            "message": " ".join(str(error).split()),
        }
    return {"error": "check", "message": "".join(traceback.format_exception(error))}


def _payload(output: Any) -> dict[str, Any]:
    """An output to send: as it is when plain containers of plain values, else flattened."""
    leaves, structure = tree_flatten(output)
    if _is_plain(output):
        return {"plain": True, "value": _detached(output), "leaves": []}
    return {
        "plain": False,
        "leaves": [_detached(leaf) for leaf in leaves],
        "structure": str(structure),
    }


def _is_plain(value: Any) -> bool:
    """Tensors, numbers, strings and None in dicts, lists and tuples of their own type."""
    if type(value) in (dict, list, tuple):
        items = value.values() if isinstance(value, dict) else value
        keys = value.keys() if isinstance(value, dict) else ()
        return all(isinstance(k, (str, int)) for k in keys) and all(
            _is_plain(v) for v in items
        )
    return isinstance(value, _PLAIN)


def _detached(value: Any) -> Any:
    """Tensors without their autograd graph (a grad-requiring tensor saves its flag only)."""
    if isinstance(value, torch.Tensor):
        return value.detach()
    if type(value) in (list, tuple):
        return type(value)(_detached(v) for v in value)
    if type(value) is dict:
        return {k: _detached(v) for k, v in value.items()}
    return value


def _answer(connection: Any, answer: dict[str, Any]) -> None:
    buffer = io.BytesIO()
    try:
        torch.save(answer, buffer)
    except Exception as error:
        buffer = io.BytesIO()
        torch.save(
            {
                "error": "check",
                "message": f"the rewrite's output cannot be sent back: {one_line(error)}",
            },
            buffer,
        )
    connection.send_bytes(buffer.getvalue())
