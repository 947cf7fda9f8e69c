"""The reduced-precision step of an export: calibration -> fp16 or int8 file -> its verdict.

The pipeline exports the float32 file as always; for ``precision`` fp16 or int8 the bytes come
here, are converted (:mod:`.export.precision`) and judged on the same cases as any artifact
(:mod:`.check.reduced`), against the same eager outputs. What the manifest records about the
conversion (tool, version, recipe, calibration digest and range, measures) is added to the
entry by :meth:`ReducedStep.annotate`. docs/precision.md explains every choice.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..artifacts import ManifestEntry
from ..check.cases import make_cases
from ..check.measures import is_class_output, sqnr_db, top1_agreement
from ..check.parity import InputCase, ParityReport, measure_usable
from ..check.reduced import Int8Gate, default_tolerance, judge_reduced
from ..export import Exported
from ..export.calibration import PARITY_SOURCE, WARNING, Calibration, load_calibration
from ..export.precision import AUTO, Converted, convert, input_range
from ..spec import ExportSpec, Precision, Tolerance

CALIBRATION_SEED = 1_000_003  # far from the parity seeds (0, and what users pass)
RANGE_SEED = 2_000_003
MIN_SAMPLES = 16
CALIBRATION_CASES = ("random", "constant", "negative")  # the in-range parity inputs


@dataclass(frozen=True)
class ReducedOptions:
    """How to make and judge an fp16 or int8 file (the CLI's --calibration, --int8-recipe)."""

    calibration: str | os.PathLike[str] | Calibration | None = None
    recipe: str = AUTO
    gate: Int8Gate = field(default_factory=Int8Gate)


def prepared(spec: ExportSpec, options: ReducedOptions | None) -> ReducedOptions | None:
    """``options`` with the calibration data loaded and checked: bad data fails here, before
    the export creates anything (None for an fp32 ``spec``)."""
    if spec.precision is Precision.FP32:
        return None
    opts = options or ReducedOptions()
    return replace(opts, calibration=calibration_for(spec, opts.calibration))


def default_calibration(spec: ExportSpec, samples: int = MIN_SAMPLES) -> Calibration:
    """The parity generator's in-range inputs (random, constant, negative, every parity batch
    and size) at seeds the parity check never uses, until at least ``samples`` samples."""
    batches: list[np.ndarray] = []
    seed = CALIBRATION_SEED
    while sum(b.shape[0] for b in batches) < samples:
        batches += [c.x for c in make_cases(spec.model, spec.input, seed, CALIBRATION_CASES)]
        seed += 1
    return Calibration(tuple(batches), PARITY_SOURCE, WARNING)


def calibration_for(spec: ExportSpec,
                    path: str | os.PathLike[str] | Calibration | None) -> Calibration:
    """The user's data at ``path`` (each array checked against the model's input) or the
    default; a :class:`Calibration` already loaded is returned as it is."""
    if isinstance(path, Calibration):
        return path
    if path is None:
        return default_calibration(spec)
    from ..errors import InputError, InvalidSpecError
    from ..runtime.validation import Expected, check_input

    cal = load_calibration(path)
    expected = Expected.from_spec(spec.model, spec.input)
    for i, b in enumerate(cal.batches):
        try:
            check_input(b, expected)
        except InputError as e:
            raise InvalidSpecError(f"--calibration {path}: array {i} does not fit the model: "
                                   f"{e}") from None
    return cal


class ReducedStep:
    """One reduced-precision export: ``export`` wraps the float32 exporter, ``judge`` is the
    file's verdict, ``annotate`` completes its manifest entry. ``eager``: the eager runner
    (``infer(x) -> y``), None for a user network judged only by its stored outputs."""

    def __init__(self, spec: ExportSpec, eager: Any,
                 options: ReducedOptions | None = None,
                 say: Callable[[str], None] = lambda _m: None) -> None:
        self.spec, self.eager, self.options = spec, eager, options or ReducedOptions()
        self.say = say
        self.calibration = calibration_for(spec, self.options.calibration)
        if self.calibration.warning:
            say(f"warning: {self.calibration.warning}")
        self.converted: Converted | None = None
        self.measures: dict[str, Any] = {}
        self._calib_fp32: list[np.ndarray] | None = None

    def _fp32_outputs(self) -> list[np.ndarray]:
        """The eager outputs on the calibration data (the top-1 and recipe reference)."""
        if self._calib_fp32 is None:
            if self.eager is None:
                raise ValueError("no eager model to compare the calibration data against")
            self._calib_fp32 = [self.eager.infer(b) for b in self.calibration.batches]
        return self._calib_fp32

    def _run(self, data: bytes) -> list[np.ndarray]:
        from ..runtime.reduced import reduced_runners

        ort_runner = reduced_runners(self.spec.precision, data, None)[0]
        return [ort_runner.infer(b) for b in self.calibration.batches]

    def _score(self, data: bytes) -> float:
        ys = self._run(data)
        return min(sqnr_db(e, a) for e, a in zip(self._fp32_outputs(), ys, strict=True))

    def export(self, fp32: Exported) -> Exported:
        """The float32 export converted to ``spec.precision``."""
        spec, opts = self.spec, self.options
        self.say(f"converting {spec.filename} to {spec.precision} ...")
        hard = [c.x for c in make_cases(spec.model, spec.input, RANGE_SEED)]
        self.converted = convert(fp32.data, spec.precision, self.calibration,
                                 range_batches=hard, fp16_io=spec.fp16_io, recipe=opts.recipe,
                                 score=self._score if self.eager is not None else None)
        return replace(fp32, data=_with_precision(self.converted.data, spec.precision))

    def judge(self, data: bytes, cases: Sequence[InputCase], tolerance: Tolerance | None,
              seed: int, outputs: Sequence[np.ndarray] | None = None) -> ParityReport:
        """The file against the eager outputs (``outputs``, or the eager model run on
        ``cases``), plus top-1 on the calibration data for a class output."""
        from ..runtime.reduced import reduced_runners
        from ..runtime.validation import Expected

        spec = self.spec
        expected = Expected.from_spec(spec.model, spec.input)
        runners = reduced_runners(spec.precision, data, expected)
        diffs, skips = measure_usable(self.eager, runners, cases, outputs=outputs)
        top1 = None
        if spec.precision is Precision.INT8 and diffs and is_class_output(diffs[0]._expected):
            fp32, ys = self._fp32_outputs(), self._run(data)
            top1 = (top1_agreement(fp32, ys), sum(int(y.shape[0]) for y in ys), ys[0].shape[1])
        conv = self.converted.record() if self.converted else {}
        report = judge_reduced(
            spec.precision, diffs, [c.x for c in cases],
            tolerance or default_tolerance(spec.precision), seed=seed, skipped=skips,
            gate=self.options.gate, input_range=input_range(self.calibration),
            top1=top1, record={"recipe": conv.get("recipe", {}).get("recipe")})
        judged = [c for c in report.checks if c.judged and c.sqnr_db is not None]
        self.measures = {
            "worst_sqnr_db": min((c.sqnr_db for c in judged), default=None),  # type: ignore
            "worst_cosine": min((c.cosine for c in judged if c.cosine is not None),
                                default=None),
            **({"top1_agreement": top1[0], "top1_samples": top1[1]} if top1 else {})}
        return report

    def annotate(self, entry: ManifestEntry) -> ManifestEntry:
        """The entry with its ``conversion`` record and float16 I/O dtypes where asked."""
        conv = self.converted.record() if self.converted else {"precision": "fp32"}
        conv["measures"] = {k: _num(v) for k, v in self.measures.items() if v is not None}
        if not self.spec.fp16_io:
            return replace(entry, conversion=conv)
        half = lambda recs: tuple({**r, "dtype": "float16"} for r in recs)  # noqa: E731
        return replace(entry, conversion=conv, inputs=half(entry.inputs),
                       outputs=half(entry.outputs))


def _with_precision(data: bytes, precision: Precision) -> bytes:
    """The file's metadata says its precision (what ``inspect`` and a deployment read)."""
    import onnx

    model = onnx.load_from_string(data)
    for p in list(model.metadata_props):
        if p.key == "chanattn_export.precision":
            model.metadata_props.remove(p)
    model.metadata_props.add(key="chanattn_export.precision", value=str(precision))
    return model.SerializeToString(deterministic=True)


def _num(v: float) -> float | str:
    return float(f"{v:.6g}") if np.isfinite(v) else str(v)





def step_for(spec: ExportSpec, net: Any, options: ReducedOptions | None, devices: Any,
             say: Callable[[str], None]) -> ReducedStep | None:
    """The fp16/int8 step of ``spec`` (None for fp32), its calibration data loaded and
    checked now, before any file is written. Its gate runs on the CPU: a GPU asked for by
    name is refused rather than skipped."""
    if spec.precision is Precision.FP32:
        return None
    from ..errors import InvalidSpecError
    from ..runtime import EagerRunner, parse_devices
    from ..runtime.validation import Expected
    from ..spec import Device

    if Device.CUDA in (parse_devices(devices) or ()):
        raise InvalidSpecError(f"{spec.precision} files are judged on the CPU only (onnxruntime "
                               "and the float16 reference); drop --devices cuda")
    return ReducedStep(spec, EagerRunner(net, expected=Expected.from_spec(spec.model)),
                       prepared(spec, options), say)


def reduced_file(spec: ExportSpec, net: Any, fp32: bytes) -> bytes:
    """The fp16 or int8 file an export of ``spec`` would write (default calibration; the int8
    recipe chosen against eager ``net``), unjudged: what ``bench`` times."""
    from ..runtime import EagerRunner

    return ReducedStep(spec, EagerRunner(net)).export(Exported(fp32, "dynamo")).data


__all__ = ["ReducedOptions", "ReducedStep", "calibration_for", "default_calibration",
           "reduced_file", "step_for"]
