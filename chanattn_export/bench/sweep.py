"""The benchmark loop: every case of a flat plan, each backend opened once and timed in one go.

The plan (:func:`~chanattn_export.bench.config.plan`) lists cases model-major, then backend,
device and batch size, so each backend runs all its cases in one contiguous stretch; the loop
opens a backend when the plan reaches it, closes it when the plan moves on, and pauses
(``settle_s``) before the first timed call. A case that cannot run here is recorded as skipped
with the reason; a case that fails is recorded with its error and the sweep goes on. Why these
rules: docs/benchmarks.md, "Why the timing rules".
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping

from ..runtime.devices import torch_threads
from ..spec import Device, DType
from .backends import BackendHandle, ModelArtifacts, SkipCase, describe_error
from .config import BenchConfig, Case, plan, rotation_buffers
from .derive import make_result
from .records import BenchResult
from .roofline import Bandwidth, last_level_cache_bytes, measure_copy_floor

#: (device, batch size, output kind) -> median ms of a copy of that case's working set
CopyFloors = Mapping[tuple[str, int, str], float]


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
        key = (case.model, case.backend, case.device, case.precision)
        if key != self._key:
            self.close()
            self._key, self._failure = key, None
            c = self.cfg
            try:
                art = self._artifacts(case.model)
                self.say(f"{case.model}: opening {case.backend} on {case.device}")
                self._handle = BackendHandle(art, case.backend, case.device, c.dtype, c.threads,
                                             c.rotate_inputs, c.include_transfer,
                                             case.precision)
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


def measure_copy_floors(cfg: BenchConfig) -> dict[tuple[str, int, str], float]:
    """The same-working-set copy of every (device, batch, output kind) the sweep will time.

    Measured before any backend opens (no thread pool of another runtime spinning), with the
    inputs cycled through as many buffers as the cases will use, so each case's ``x_copy``
    compares it with a copy in its own cache state. A device that cannot run it gets none.
    """
    import torch

    kinds = sorted({k for k in map(_output_kind, cfg.models) if k})
    floors: dict[tuple[str, int, str], float] = {}
    for device in cfg.devices:
        if device is Device.CUDA and not torch.cuda.is_available():
            continue
        cache = (getattr(torch.cuda.get_device_properties(0), "L2_cache_size", None)
                 if device is Device.CUDA else last_level_cache_bytes())
        for batch in cfg.batch_sizes:
            shape = cfg.layout.shape(batch, cfg.channels, cfg.height, cfg.width)
            n = rotation_buffers(math.prod(shape) * cfg.dtype.itemsize, cache,
                                 cfg.rotate_inputs)
            for kind in kinds:
                try:
                    floors[(device.value, batch, kind)] = measure_copy_floor(
                        shape, kind, buffers=n, device=device.value,
                        half=cfg.dtype is DType.FLOAT16)
                except Exception:  # e.g. out of memory: no floor rather than a made-up one
                    continue
    return floors


def run_case(cfg: BenchConfig, case: Case, current: _Current,
             bandwidth: Bandwidth | None, copy_ms: float | None = None) -> BenchResult:
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
    return make_result(cfg, case, output, stretches, bandwidth, prep, copy_ms=copy_ms)


def run_sweep(cfg: BenchConfig, bandwidth: dict[str, Bandwidth],
              on_result: Callable[[BenchResult], None] | None = None,
              on_status: Callable[[str], None] | None = None,
              copy_floors: CopyFloors | None = None) -> list[BenchResult]:
    """Time every case of ``cfg``; cases come back ``skipped`` or with an ``error`` set when
    they could not be timed, so the result always has one record per planned case.
    ``copy_floors`` (from :func:`measure_copy_floors`) gives each case its ``x_copy``."""
    floors = copy_floors or {}
    say = on_status or (lambda _m: None)
    done = on_result or (lambda _r: None)
    results: list[BenchResult] = []
    current = _Current(cfg, say)
    with torch_threads(cfg.threads):
        try:
            for case in plan(cfg):
                copy = floors.get((case.device.value, case.batch, _output_kind(case.model)))
                r = run_case(cfg, case, current, bandwidth.get(case.device.value), copy)
                results.append(r)
                done(r)
        finally:
            current.close()
    return results


__all__ = ["measure_copy_floors", "run_case", "run_sweep"]
