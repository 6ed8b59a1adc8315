"""The model-zoo benchmark: every torchvision model, in every style, with the full check.

Set-up (once; torchvision 0.29.1 needs torch 2.14.1, which does not sit beside
the project's torch 2.13.0, so the zoo has its own venv *outside* the
repository; the torch wheel is a ~5.5 GB CUDA build that runs on the CPU)::

    df -h /work                                   # needs ~6 GB free
    python -m venv .venv-zoo
    .venv-zoo/bin/pip install -c benchmarks/zoo-constraints.txt \\
        torch==2.14.1 torchvision==0.29.1
    .venv-zoo/bin/pip install -c benchmarks/zoo-constraints.txt -e .

Run from the repository root. A full classification run (80 models x 3
styles) takes one to two hours on 2 shared cores, so run it in the background
and in parts: ``--resume`` skips the models already in the results file::

    nohup .venv-zoo/bin/python benchmarks/zoo.py --models representative \
        > /tmp/zoo.log 2>&1 &                      # 15 models first
    nohup .venv-zoo/bin/python benchmarks/zoo.py --resume \
        > /tmp/zoo.log 2>&1 &                      # then the other 65
    .venv-zoo/bin/python benchmarks/zoo.py --render-only    # redo zoo.md only

    .venv-zoo/bin/python benchmarks/zoo.py --models 'resnet*' vgg11 \
        --styles functional --output /tmp/zoo.md   # a few models, one style
    .venv-zoo/bin/python benchmarks/zoo.py --family all --resume  # + other families

Other people edit ``nnconvert/`` while a run goes on, so by default every
worker imports a copy of ``nnconvert/`` taken when the run starts
(``--code worktree``); ``--code HEAD`` (or any commit) runs a committed
version, exported with ``git archive``; the report names the version.

For every selected model the script builds it with random weights
(``weights=None``, ``weights_backbone=None``: nothing is ever downloaded, and
any attempt to load weights raises), picks a small valid input, and for each
style converts it with ``nnconvert.convert`` and runs ``conversion.check(train=
True)``. When the full check fails in train mode, an eval-only check is run
too, so the table tells "eval ok, train fails" apart from "eval fails".

Each model runs in its own worker process (``zoo.py --worker ...``), watched
by the parent: a style that runs longer than ``--timeout`` seconds or a
worker whose resident memory passes ``--max-rss`` GiB is killed and recorded
as such, and the remaining styles of that model go on in a fresh worker.
Results are saved after every model to a JSON-lines file (``--results``,
default: the output with ``.jsonl``, i.e. ``benchmarks/zoo.jsonl``);
``--resume`` reuses the records of models already there, and stopping the
parent (``kill PID``) keeps them. The markdown report lists every command and
nnconvert version that contributed records, and the models not run yet.

Inputs (batch ``--batch``, default 2, so that BatchNorm after global pooling
trains; the checker adds a second batch size of one more):

* classification, quantization (``quantize=False``, float models): 3x224x224;
  3x299x299 for inception_v3. ``googlenet`` and ``inception_v3`` are built with
  ``aux_logits=False`` (their train-mode output is a namedtuple with the aux
  head, their eval-mode output a tensor; nnconvert traces in eval mode);
* segmentation: 3x224x224; detection: a list of ``batch`` 3x224x224 images;
* video: 3x16x112x112 (r3d_18, mc3_18, r2plus1d_18, swin3d_*), 3x16x224x224
  (s3d, mvit_*, whose pooling or position embeddings fix the size);
* optical flow: two 3x128x128 images.

The default test run never imports this file (``testpaths = ["tests"]``).
"""

from __future__ import annotations

import argparse
import collections
import datetime
import fnmatch
import hashlib
import json
import os
import platform
import queue
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Iterable

ROOT = Path(__file__).resolve().parent.parent
STYLES = ("module", "functional", "mixed")
FAMILIES = {
    "classification": "torchvision.models",
    "segmentation": "torchvision.models.segmentation",
    "detection": "torchvision.models.detection",
    "video": "torchvision.models.video",
    "optical_flow": "torchvision.models.optical_flow",
    "quantization": "torchvision.models.quantization",
}
REPRESENTATIVE = (
    "resnet18 vgg11 mobilenet_v2 densenet121 efficientnet_b0 vit_b_16 convnext_tiny "
    "squeezenet1_0 shufflenet_v2_x0_5 regnet_x_400mf googlenet inception_v3 "
    "mnasnet0_5 swin_t maxvit_t"
).split()
MARK = "@@zoo "  # prefix of the worker's result lines on stdout
SETUP = """\
df -h /work                                   # needs ~6 GB free
python -m venv .venv-zoo
.venv-zoo/bin/pip install -c benchmarks/zoo-constraints.txt torch==2.14.1 torchvision==0.29.1
.venv-zoo/bin/pip install -c benchmarks/zoo-constraints.txt -e ."""


# --------------------------------------------------------------------------
# The worker: one model, the given styles, results as JSON lines on stdout.
# --------------------------------------------------------------------------


def emit(**event: Any) -> None:
    sys.stdout.write(MARK + json.dumps(event) + "\n")
    sys.stdout.flush()


def forbid_downloads() -> None:
    """Any attempt to fetch weights fails loudly instead of reaching the network."""
    import torch.hub
    import torchvision.models._api as api

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("zoo.py: refusing to download weights")

    torch.hub.load_state_dict_from_url = refuse
    api.load_state_dict_from_url = refuse
    api.WeightsEnum.get_state_dict = refuse


#: Models whose position embeddings or partitions fix the image size.
FIXED_SIZE = {"vit_*": 224, "maxvit_t": 224}


def build(
    name: str, family: str, batch: int, size: int | None = None
) -> tuple[Any, tuple[Any, ...], str]:
    """The model with random weights, its example inputs, and a description of them.

    ``size`` overrides the image side of the image families, except for models
    that need one size.
    """
    import inspect

    import torch
    import torchvision.models as models

    builder = models.get_model_builder(name)
    parameters = inspect.signature(builder).parameters
    kwargs: dict[str, Any] = {"weights": None}
    if "weights_backbone" in parameters:
        kwargs["weights_backbone"] = None
    if family == "quantization":
        kwargs["quantize"] = False
    if name.endswith(("googlenet", "inception_v3")):
        kwargs["aux_logits"] = False
    torch.manual_seed(0)
    model = builder(**kwargs).eval()
    fixed = [v for pattern, v in FIXED_SIZE.items() if fnmatch.fnmatch(name, pattern)]
    if fixed:
        size = fixed[0]
    elif size is None:
        size = 299 if name.endswith("inception_v3") else 224
    if family == "detection":
        images = [torch.rand(3, size, size) for _ in range(batch)]
        return model, (images,), f"[{batch} x 3x{size}x{size}]"
    if family == "optical_flow":
        shape = (batch, 3, 128, 128)
        return (
            model,
            (torch.randn(shape), torch.randn(shape)),
            f"2 x {_dims(shape)}",
        )
    if family == "video":
        side = 224 if name.startswith(("s3d", "mvit")) else 112
        shape = (batch, 3, 16, side, side)
    else:
        shape = (batch, 3, size, size)
    return model, (torch.randn(shape),), _dims(shape)


def _dims(shape: Iterable[int]) -> str:
    return "x".join(str(d) for d in shape)


def one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    if isinstance(error, _nnconvert_errors()):
        return text
    return f"{type(error).__name__}: {text}"


def _nnconvert_errors() -> tuple[type, ...]:
    import nnconvert

    return (nnconvert.NnconvertError,)


def where(error: BaseException) -> str | None:
    """``nnconvert/x.py:12 in f`` of the innermost nnconvert frame, for unexpected errors."""
    import nnconvert

    package = str(Path(nnconvert.__file__).parent)
    frames = [
        f
        for f in traceback.extract_tb(error.__traceback__)
        if f.filename.startswith(package)
    ]
    if not frames:
        return None
    frame = frames[-1]
    relative = os.path.relpath(frame.filename, Path(package).parent)
    return f"{relative}:{frame.lineno} in {frame.name}"


def classify(error: BaseException, stage: str) -> str:
    """``convert`` / ``check``: an nnconvert error; ``internal``: anything else."""
    import nnconvert

    if isinstance(error, nnconvert.NnconvertError):
        return stage
    return "internal"


def worker(args: argparse.Namespace) -> int:
    import resource

    import torch

    import nnconvert

    torch.set_num_threads(args.threads)
    forbid_downloads()
    emit(event="imported", nnconvert=str(Path(nnconvert.__file__).parent))
    start = time.perf_counter()
    try:
        model, inputs, described = build(
            args.worker, args.family[0], args.batch, args.size
        )
        parameters = sum(p.numel() for p in model.parameters())
        with torch.no_grad():
            forward_start = time.perf_counter()
            model(*inputs)
            forward_s = time.perf_counter() - forward_start
    except Exception as error:
        emit(event="build-error", message=one_line(error), where=where(error))
        return 0
    emit(
        event="built",
        input=described,
        params=parameters,
        build_s=time.perf_counter() - start - forward_s,
        forward_s=forward_s,
    )
    for style in args.styles:
        emit(event="start", style=style, phase="convert")
        record: dict[str, Any] = {"style": style}
        start = time.perf_counter()
        try:
            conversion = nnconvert.convert(model, to=style, example_inputs=inputs)
        except Exception as error:
            record.update(
                status=classify(error, "convert"),
                stage="convert",
                message=one_line(error),
                where=where(error),
                convert_s=time.perf_counter() - start,
            )
            emit(event="result", peak_rss_mb=_peak_mb(resource), **record)
            continue
        record.update(
            convert_s=time.perf_counter() - start,
            lines=len(conversion.source.splitlines()),
        )
        if args.sources:
            path = Path(args.sources) / f"{args.worker}.{style}.py"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(conversion.source)
        emit(event="start", style=style, phase="check")
        start = time.perf_counter()
        try:
            report = conversion.check(train=args.train)
            record.update(
                status="ok",
                max_abs=report.max_abs,
                eval_max_abs=_eval_max(report),
                skipped=list(report.skipped),
            )
        except Exception as error:
            record.update(
                status=classify(error, "check"),
                stage="check",
                message=one_line(error),
                where=where(error),
            )
            if record["status"] == "check" and record["message"].startswith("train"):
                # Eval passed before train failed: run it alone for its error.
                record["check_s"] = time.perf_counter() - start
                emit(event="start", style=style, phase="eval-only check")
                try:
                    report = conversion.check(train=False)
                    record.update(
                        status="train",
                        eval_max_abs=report.max_abs,
                        skipped=list(report.skipped),
                    )
                except Exception as eval_error:  # not expected: eval passed before
                    record["eval_message"] = one_line(eval_error)
        record.setdefault("check_s", time.perf_counter() - start)
        emit(event="result", peak_rss_mb=_peak_mb(resource), **record)
        del conversion
    emit(event="done")
    return 0


def _eval_max(report: Any) -> float:
    return max(
        (r.max_abs for r in report.results if r.label.startswith("eval")),
        default=0.0,
    )


def _peak_mb(resource: Any) -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --------------------------------------------------------------------------
# The parent: select models, run workers with a watchdog, write the report.
# --------------------------------------------------------------------------


def select_models(families: list[str], patterns: list[str]) -> list[tuple[str, str]]:
    import importlib

    import torchvision.models as models

    chosen = []
    for family in families:
        module = importlib.import_module(FAMILIES[family])
        names = models.list_models(module=module)
        if patterns:
            names = [n for n in names if any(fnmatch.fnmatch(n, p) for p in patterns)]
        chosen += [(family, n) for n in names]
    return chosen


def rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()


def revision(code: str) -> str:
    """Which nnconvert runs: a commit, plus a hash of the files when they differ from it."""
    if code not in ("worktree", "live"):
        return _git("rev-parse", "--short", code) or code
    rev = _git("rev-parse", "--short", "HEAD") or "unknown"
    if not _git("status", "--porcelain", "nnconvert"):
        return rev
    digest = hashlib.sha256()
    for path in sorted((ROOT / "nnconvert").rglob("*.py")):
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    changes = "uncommitted changes" + (", as they were" if code == "live" else "")
    return f"{rev} + {changes} ({digest.hexdigest()[:8]})"


def snapshot(code: str) -> Path:
    """A copy of the package that every worker imports, so a long run sees one version.

    Other people edit ``nnconvert/`` while the zoo runs; without the copy each
    worker would import whatever state the files are in when it starts.
    ``code`` is ``worktree`` (the files as they are now) or a git revision.
    """
    target = Path(tempfile.mkdtemp(prefix="nnconvert-zoo-"))
    if code == "worktree":
        shutil.copytree(
            ROOT / "nnconvert",
            target / "nnconvert",
            ignore=shutil.ignore_patterns("__pycache__"),
        )
    else:
        archive = subprocess.run(
            ["git", "archive", "--format=tar", code, "nnconvert"],
            cwd=ROOT,
            capture_output=True,
        )
        if archive.returncode:
            sys.exit(f"git archive {code}: {archive.stderr.decode().strip()}")
        subprocess.run(
            ["tar", "-x", "-C", str(target)], input=archive.stdout, check=True
        )
    check = subprocess.run(
        [sys.executable, "-c", "import nnconvert; print(nnconvert.__file__)"],
        env={**os.environ, "PYTHONPATH": str(target)},
        cwd=target,
        capture_output=True,
        text=True,
    )
    if check.returncode or not check.stdout.startswith(str(target)):
        lines = (check.stderr or check.stdout).strip().splitlines() or ["?"]
        sys.exit(f"the snapshot of nnconvert in {target} does not import: {lines[-1]}")
    return target


def run_model(
    family: str, name: str, args: argparse.Namespace, log: Any
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Run the styles of one model in workers; the model's info and one record per style."""
    info: dict[str, Any] = {"model": name, "family": family}
    records: list[dict[str, Any]] = []
    remaining = list(args.styles)
    while remaining:
        command = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--worker",
            name,
            "--family",
            family,
            "--batch",
            str(args.batch),
            "--threads",
            str(args.threads),
            *(["--size", str(args.size)] if args.size else []),
            "--styles",
            *remaining,
        ]
        if not args.train:
            command.append("--no-train")
        if args.sources:
            command += ["--sources", args.sources]
        environment = dict(os.environ)
        if args.snapshot_dir:
            environment["PYTHONPATH"] = args.snapshot_dir
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            start_new_session=True,
        )
        events: queue.Queue = queue.Queue()

        def read(stream: Any = process.stdout) -> None:
            for line in stream:
                if line.startswith(MARK):
                    events.put(json.loads(line[len(MARK) :]))
                else:
                    log.write(line)
            events.put(None)

        threading.Thread(target=read, daemon=True).start()
        try:
            failure, current, phase, started, peak = _watch(
                process, events, info, records, remaining, args
            )
        finally:
            if process.poll() is None:  # the parent is being stopped
                _kill(process)
        code = process.wait()
        info["peak_rss_mb"] = max(info.get("peak_rss_mb", 0.0), peak)
        if "build_error" in info or (failure is None and code == 0 and not remaining):
            break
        if failure is None:
            failure = f"worker died: {_exit_reason(code)} during {phase}"
        if "input" not in info:  # died while building: no style can run
            info["build_error"] = failure
            break
        victim = current or remaining[0]
        records.append(
            {
                "style": victim,
                "status": failure.split(":")[0],
                "message": failure,
                "elapsed_s": time.monotonic() - started,
            }
        )
        remaining.remove(victim)
    if "build_error" in info:
        records += [
            {"style": s, "status": "build", "message": info["build_error"]}
            for s in remaining
        ]
    return info, records


def _watch(
    process: subprocess.Popen,
    events: queue.Queue,
    info: dict[str, Any],
    records: list[dict[str, Any]],
    remaining: list[str],
    args: argparse.Namespace,
) -> tuple[str | None, str | None, str, float, float]:
    """Follow one worker's events until it ends, or kill it on timeout or memory.

    Returns the failure (or None), the style and phase it was in, when that
    style started, and the peak resident memory seen.
    """
    current: str | None = None
    phase = "build"
    phase_start = started = time.monotonic()
    failure: str | None = None
    peak = 0.0
    while True:
        try:
            event = events.get(timeout=0.5)
        except queue.Empty:
            event = {}
        if event is None:
            break
        kind = event.pop("event", None)
        if kind == "imported":
            info["nnconvert"] = event["nnconvert"]
        elif kind == "built":
            info.update(event)
            phase, phase_start = "between styles", time.monotonic()
        elif kind == "build-error":
            info.update(build_error=event["message"], where=event.get("where"))
        elif kind == "start":
            if event["style"] != current:
                current, started = event["style"], time.monotonic()
            phase, phase_start = event["phase"], time.monotonic()
        elif kind == "result":
            event["elapsed_s"] = time.monotonic() - started
            records.append(event)
            remaining.remove(event["style"])
            current = None
            phase, phase_start = "between styles", time.monotonic()
        peak = max(peak, rss_mb(process.pid))
        budget_start = started if current else phase_start
        if peak > args.max_rss * 1024:
            failure = f"memory: worker passed {args.max_rss:g} GiB RSS during {phase}"
        elif time.monotonic() - budget_start > args.timeout:
            failure = f"timeout: over {args.timeout:g} s, during {phase}"
        if failure:
            _kill(process)
            break
    return failure, current, phase, started, peak


def _kill(process: subprocess.Popen) -> None:
    """Kill the worker and anything it started (it leads its own process group)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _exit_reason(code: int) -> str:
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


def load_results(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def save_results(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text("".join(json.dumps(r) + "\n" for r in rows))
    temporary.replace(path)


def controller(args: argparse.Namespace) -> int:
    import torch
    import torchvision

    families = list(FAMILIES) if args.family == ["all"] else args.family
    patterns = [p for item in args.models for p in item.split(",") if p]
    if patterns == ["representative"]:
        patterns = list(REPRESENTATIVE)
    selected = select_models(families, patterns)
    if args.list:
        print("\n".join(f"{family}\t{name}" for family, name in selected))
        return 0
    if not selected:
        print("no model matches", file=sys.stderr)
        return 2
    output = Path(args.output)
    results = Path(args.results) if args.results else output.with_suffix(".jsonl")
    options = {
        "batch": args.batch,
        "size": args.size,
        "train": args.train,
        "threads": args.threads,
    }
    command = shlex.join([sys.executable, "benchmarks/zoo.py", *sys.argv[1:]])
    kept = load_results(results)
    keys = {(f, n) for f, n in selected}
    if args.render_only:
        done = keys
    elif args.resume:
        done = {
            (r["family"], r["model"])
            for r in kept
            if r.get("options") == options and set(args.styles) <= set(r["records"])
        }
    else:
        done = set()
        kept = [r for r in kept if (r["family"], r["model"]) not in keys]
    todo = [(f, n) for f, n in selected if (f, n) not in done]
    environment = {
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "python": platform.python_version(),
    }
    log = sys.stderr
    if args.log:
        log = open(args.log, "a", buffering=1)
    version = revision(args.code)
    args.snapshot_dir = None
    if args.code != "live" and todo:
        args.snapshot_dir = str(
            snapshot(args.code if args.code == "worktree" else version)
        )
    # SIGTERM (kill PID) ends the run like Ctrl-C: the worker is killed, results kept.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    run_start = time.monotonic()
    print(
        f"{len(selected)} models selected, {len(selected) - len(todo)} already in "
        f"{results}, running {len(todo)}; styles {' '.join(args.styles)}",
        flush=True,
    )
    try:
        kept = run_all(todo, args, log, kept, results, version, command, environment)
    finally:
        if args.snapshot_dir:
            shutil.rmtree(args.snapshot_dir, ignore_errors=True)
    elapsed = time.monotonic() - run_start
    rows = [r for r in kept if (r["family"], r["model"]) in keys]
    order = {key: i for i, key in enumerate(selected)}
    rows.sort(key=lambda r: order[(r["family"], r["model"])])
    found = {(r["family"], r["model"]) for r in rows}
    missing = [name for family, name in selected if (family, name) not in found]
    output.write_text(render(rows, args.styles, elapsed, missing))
    print(f"wrote {output} and {results} in {elapsed / 60:.1f} min", flush=True)
    return 0


def run_all(
    todo: list[tuple[str, str]],
    args: argparse.Namespace,
    log: Any,
    kept: list[dict[str, Any]],
    results: Path,
    version: str,
    command: str,
    environment: dict[str, str],
) -> list[dict[str, Any]]:
    """Run the models one after the other, saving the results after each."""
    options = {
        "batch": args.batch,
        "size": args.size,
        "train": args.train,
        "threads": args.threads,
    }
    for index, (family, name) in enumerate(todo, 1):
        model_start = time.monotonic()
        info, records = run_model(family, name, args, log)
        row = {
            **info,
            "records": {r["style"]: r for r in records},
            "options": options,
            "command": command,
            "revision": version,
            "environment": environment,
            "date": datetime.datetime.now().isoformat(timespec="seconds"),
            "seconds": time.monotonic() - model_start,
        }
        kept = [r for r in kept if (r["family"], r["model"]) != (family, name)]
        kept.append(row)
        save_results(results, kept)
        summary = "  ".join(
            f"{s}={row['records'][s]['status']}"
            for s in args.styles
            if s in row["records"]
        )
        print(
            f"[{index}/{len(todo)}] {family}/{name}: {summary} "
            f"({row['seconds']:.1f} s, peak {info.get('peak_rss_mb', 0) / 1024:.1f} GiB)",
            flush=True,
        )
    return kept


# --------------------------------------------------------------------------
# The report.
# --------------------------------------------------------------------------

LABELS = {
    "ok": "ok",
    "train": "eval ok, train fails",
    "check": "check fails",
    "convert": "conversion fails",
    "internal": "internal error",
    "timeout": "timeout",
    "memory": "out of memory",
    "worker died": "worker crashed",
    "build": "model does not build/run",
}


def normalize(message: str) -> str:
    """The error's pattern: quoted names, numbers and shapes replaced, for grouping."""
    text = re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", message)
    text = re.sub(r"\b0x[0-9a-f]+\b", "0x…", text)
    text = re.sub(r"\b\d+(\.\d+)?(e-?\d+)?\b", "N", text)
    text = re.sub(r"\((N, )*N\)|\[(N, )*N\]", "(…)", text)
    return text


def _cell_message(message: str) -> str:
    return message.replace("|", "\\|")


def _code(message: str) -> str:
    fence = "``" if "`" in message else "`"
    pad = " " if message.startswith("`") or message.endswith("`") else ""
    return f"{fence}{pad}{message}{pad}{fence}"


def _number(value: float | None) -> str:
    if value is None:
        return "–"
    return "0" if value == 0 else f"{value:.1e}"


def _seconds(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def render(
    rows: list[dict[str, Any]], styles: list[str], elapsed: float, missing: list[str]
) -> str:
    failures: dict[str, list[str]] = collections.OrderedDict()
    for row in rows:
        for style in styles:
            record = row["records"].get(style)
            if record and record["status"] != "ok":
                failures.setdefault(record["message"], []).append(
                    f"{row['model']}/{style}"
                )
    ranked = sorted(failures.items(), key=lambda item: -len(item[1]))
    ids = {message: f"E{i}" for i, (message, _) in enumerate(ranked, 1)}

    lines = ["# nnconvert on the torchvision model zoo", ""]
    commands = collections.Counter(r["command"] for r in rows)
    revisions = sorted({r["revision"] for r in rows})
    environment = rows[0]["environment"] if rows else {}
    options = rows[0]["options"] if rows else {}
    total_seconds = sum(r["seconds"] for r in rows)
    lines += [
        "Produced by (from the repository root, in the zoo venv, "
        "`.venv-zoo/bin/python`):",
        "",
        "```bash",
        *commands,
        "```",
        "",
        f"{len(rows)} models; nnconvert {', '.join(revisions)}; "
        f"torch {environment.get('torch')} on the CPU, torchvision "
        f"{environment.get('torchvision')}, Python {environment.get('python')}; "
        f"{options.get('threads', '?')} threads, batch {options.get('batch', '?')} "
        "(the input column gives each model's example input; the check adds a batch "
        f"of one more). Time spent on these models: {total_seconds / 60:.0f} min "
        f"(this run's wall time: {elapsed / 60:.0f} min). "
        "Each cell is `conversion.check(train=True)` after "
        "`nnconvert.convert(model, to=style, example_inputs=(x,))` on a model with "
        "random weights; see `benchmarks/zoo.py` for the inputs.",
        "",
        "Set-up of the venv (torchvision does not import beside the project's torch "
        "2.13.0, so the zoo has its own venv outside the repository):",
        "",
        "```bash",
        SETUP,
        "```",
        "",
        "## Summary",
        "",
    ]
    statuses = [
        s
        for s in LABELS
        if any(
            r["records"].get(st, {}).get("status") == s for r in rows for st in styles
        )
    ]
    lines.append("| style | " + " | ".join(LABELS[s] for s in statuses) + " |")
    lines.append("|---" * (len(statuses) + 1) + "|")
    for style in styles:
        counts = collections.Counter(
            r["records"][style]["status"] for r in rows if style in r["records"]
        )
        lines.append(
            f"| {style} | " + " | ".join(str(counts[s]) for s in statuses) + " |"
        )
    lines += [
        "",
        "“eval ok, train fails”: the eval checks (example batch and batch + 1) pass, "
        "a train-mode check fails. “internal error”: an exception that is not an "
        "`nnconvert.NnconvertError` escaped (a bug by SPEC invariant 6).",
    ]
    everywhere = sum(
        all(r["records"].get(s, {}).get("status") == "ok" for s in styles) for r in rows
    )
    lines += ["", f"Models that pass in every style: {everywhere} of {len(rows)}."]
    families = list(dict.fromkeys(r["family"] for r in rows))
    if len(families) > 1:
        lines += [
            "",
            "| family | models | " + " | ".join(f"{s} ok" for s in styles) + " |",
            "|---" * (len(styles) + 2) + "|",
        ]
        for family in families:
            members = [r for r in rows if r["family"] == family]
            counts = [
                sum(r["records"].get(s, {}).get("status") == "ok" for r in members)
                for s in styles
            ]
            lines.append(
                f"| {family} | {len(members)} | "
                + " | ".join(str(c) for c in counts)
                + " |"
            )
    if ranked:
        lines += [
            "",
            "### Most common error patterns",
            "",
            "Messages with quoted names and numbers replaced by `'…'` and `N`.",
            "",
            "| count | pattern | e.g. |",
            "|---|---|---|",
        ]
    patterns: dict[str, list[str]] = collections.OrderedDict()
    for message, where in ranked:
        patterns.setdefault(normalize(message), []).extend(where)
    for pattern, where in sorted(patterns.items(), key=lambda item: -len(item[1]))[:15]:
        lines.append(
            f"| {len(where)} | {_cell_message(pattern)} | {', '.join(where[:3])}"
            f"{', …' if len(where) > 3 else ''} |"
        )
    lines += [
        "",
        "## Results",
        "",
        "Cell: result, max abs error of the full check (eval error when only eval "
        "passes), conversion + check seconds; `E…` points to the exact message "
        "below. Seconds are wall time on 2 cores that other jobs may share: "
        "noisy, good for orders of magnitude only.",
        "",
        "| model | input | params | "
        + ("nnconvert | " if len(revisions) > 1 else "")
        + " | ".join(styles)
        + " |",
        "|---" * (len(styles) + 3 + (len(revisions) > 1)) + "|",
    ]
    for row in rows:
        params = row.get("params")
        cells = [
            row["model"] if len(families) == 1 else f"{row['family']}/{row['model']}",
            row.get("input", "–"),
            f"{params / 1e6:.1f} M" if params else "–",
            *([row["revision"]] if len(revisions) > 1 else []),
        ]
        for style in styles:
            record = row["records"].get(style)
            cells.append(_cell(record, ids) if record else "not run")
        lines.append("| " + " | ".join(cells) + " |")
    if missing:
        lines += ["", f"Not run yet ({len(missing)}): {', '.join(missing)}."]
    if ranked:
        lines += ["", "## Errors", "", "Exact one-line messages, most frequent first."]
        lines.append("")
    for message, where in ranked:
        detail = next(
            (
                r["records"][w.split("/")[1]].get("where")
                for r in rows
                for w in where[:1]
                if r["model"] == w.split("/")[0]
            ),
            None,
        )
        at = f" (raised at `{detail}`)" if detail else ""
        lines.append(
            f"- **{ids[message]}** ({len(where)}: {', '.join(where)}){at}: "
            f"{_code(message)}"
        )
    notes = [
        f"- {row['model']}/{style}: {'; '.join(record['skipped'])}"
        for row in rows
        for style in styles
        if (record := row["records"].get(style)) and record.get("skipped")
    ]
    if notes:
        lines += ["", "## Checks skipped", "", *notes]
    return "\n".join(lines) + "\n"


def _cell(record: dict[str, Any], ids: dict[str, str]) -> str:
    status = record["status"]
    if record.get("check_s") is None:
        times = f"{_seconds(record.get('convert_s'))} s"
    else:
        times = f"{_seconds(record.get('convert_s'))} + {_seconds(record['check_s'])} s"
    if status == "ok":
        return f"ok · {_number(record.get('max_abs'))} · {times}"
    label = LABELS.get(status, status)
    reference = ids[record["message"]]
    if status == "train":
        return f"{label} {reference} · eval {_number(record.get('eval_max_abs'))} · {times}"
    if status in ("timeout", "memory", "worker died"):
        return f"{label} {reference} · {_seconds(record.get('elapsed_s'))} s"
    if status == "build":
        return f"{label} {reference}"
    return f"{label} {reference} · {times}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Convert every torchvision model to every style and check it.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--models",
        nargs="*",
        default=[],
        help="model names or globs (space or comma separated); 'representative' "
        "for a 15-model subset; default: every model of the families",
    )
    parser.add_argument("--styles", nargs="+", choices=STYLES, default=list(STYLES))
    parser.add_argument(
        "--family",
        nargs="+",
        choices=[*FAMILIES, "all"],
        default=["classification"],
        help="torchvision model families",
    )
    parser.add_argument(
        "--timeout", type=float, default=900, help="seconds per model and style"
    )
    parser.add_argument(
        "--max-rss", type=float, default=20, help="GiB of resident memory per worker"
    )
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--size",
        type=int,
        help="image side for the image families (default: 224, inception_v3 299; "
        "vit_* and maxvit_t always 224)",
    )
    parser.add_argument("--train", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "zoo.md"))
    parser.add_argument(
        "--results", help="JSON-lines results (default: OUTPUT with .jsonl)"
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="keep the results of models already in --results",
    )
    parser.add_argument("--sources", help="write every generated source to this dir")
    parser.add_argument(
        "--code",
        default="worktree",
        help="the nnconvert to run: 'worktree' (a copy of nnconvert/ taken at the "
        "start, so that edits during the run do not mix in), a git revision such as "
        "HEAD (exported with git archive), or 'live' (the files as each worker finds "
        "them)",
    )
    parser.add_argument("--log", help="append the workers' stderr to this file")
    parser.add_argument("--list", action="store_true", help="list models and exit")
    parser.add_argument(
        "--render-only",
        action="store_true",
        help="only rewrite OUTPUT from --results; models without results are listed",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args)
    return controller(args)


if __name__ == "__main__":
    sys.exit(main())
