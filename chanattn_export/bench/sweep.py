"""The benchmark loop: every case of a flat plan, each backend opened once and timed in one go.

The plan (:func:`~chanattn_export.bench.config.plan`) lists cases model-major, then backend,
device and batch size, so each backend runs all its cases in one contiguous stretch; the loop
opens a backend when the plan reaches it, closes it when the plan moves on, and pauses
(``settle_s``) before the first timed call. A case that cannot run here is recorded as skipped
with the reason; a case that fails is recorded with its error and the sweep goes on. Why these
rules: docs/benchmarks.md, "Why the timing rules".
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ..runtime.devices import torch_threads
from .backends import BackendHandle, ModelArtifacts, SkipCase, describe_error
from .config import BenchConfig, Case, plan
from .derive import make_result
from .records import BenchResult
from .roofline import Bandwidth


class _Current:
    """The model and the backend the loop holds now; the next ones are opened on demand."""

    def __init__(self, cfg: BenchConfig, say: Callable[[str], None]) -> None:
        self.cfg, self.say = cfg, say
        self._model: str | None = None
        self._art: ModelArtifacts | None = None
        self._key: tuple[object, ...] | None = None
        self._handle: BackendHandle | None = None
        self._failure: Exception | None = None  # why the current backend did not open

    def _artifacts(self, name: str) -> ModelArtifacts:
        if name != self._model or self._art is None:
            self._model, self._art = name, None
            self.say(f"building {name}")
            c = self.cfg
            self._art = ModelArtifacts.build(name, c.channels, c.height, c.width, c.layout)
        return self._art

    def handle(self, case: Case) -> BackendHandle:
        """The backend for ``case``, opened once per (model, backend, device); re-raises the
        reason it could not be opened for every case of that stretch."""
        key = (case.model, case.backend, case.device)
        if key != self._key:
            self.close()
            self._key, self._failure = key, None
            c = self.cfg
            try:
                art = self._artifacts(case.model)
                self.say(f"{case.model}: opening {case.backend} on {case.device}")
                self._handle = BackendHandle(art, case.backend, case.device, c.dtype, c.threads,
                                             c.rotate_inputs, c.include_transfer)
            except Exception as e:
                self._failure = e
            else:
                # Opening may have exported (torch work) and the previous backend's pool may
                # still spin: let both park before the first timed call.
                time.sleep(c.settle_s)
        if self._failure is not None:
            raise self._failure
        assert self._handle is not None
        return self._handle

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def _output_kind(model: str) -> str:
    from ..registry import get_model_info

    try:
        return get_model_info(model).output
    except Exception:  # an unknown model fails its cases with the registry's own message
        return ""


def run_case(cfg: BenchConfig, case: Case, current: _Current,
             bandwidth: Bandwidth | None) -> BenchResult:
    """Time one case in ``cfg.stretches`` stretches on fresh buffers, samples pooled."""
    output = _output_kind(case.model)
    try:
        handle = current.handle(case)
        stretches, prep = [], None
        for _ in range(cfg.stretches):
            prep = handle.case(case.batch)
            stretches.append(prep.time(cfg.warmup, cfg.repeats))
    except SkipCase as e:
        return make_result(cfg, case, output, bandwidth=bandwidth, skipped=str(e))
    except Exception as e:  # one broken backend must not lose the rest of the sweep
        return make_result(cfg, case, output, bandwidth=bandwidth, error=describe_error(e))
    return make_result(cfg, case, output, stretches, bandwidth, prep)


def run_sweep(cfg: BenchConfig, bandwidth: dict[str, Bandwidth],
              on_result: Callable[[BenchResult], None] | None = None,
              on_status: Callable[[str], None] | None = None) -> list[BenchResult]:
    """Time every case of ``cfg``; cases come back ``skipped`` or with an ``error`` set when
    they could not be timed, so the result always has one record per planned case."""
    say = on_status or (lambda _m: None)
    done = on_result or (lambda _r: None)
    results: list[BenchResult] = []
    current = _Current(cfg, say)
    with torch_threads(cfg.threads):
        try:
            for case in plan(cfg):
                r = run_case(cfg, case, current, bandwidth.get(case.device.value))
                results.append(r)
                done(r)
        finally:
            current.close()
    return results


__all__ = ["run_case", "run_sweep"]
