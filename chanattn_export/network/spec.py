"""Export a whole user network (any ``nn.Module`` taking one rank-4 float32 tensor) into an
artifact folder, with the same exporters, parity cases, manifest, verify and report as a block.

A registered block is re-checked later by rebuilding it from its spec and weights; a user's
network cannot be (its code is not in this package). So the export stores the evidence instead:
the parity inputs and the eager network's outputs for them, in a content-addressed reference
file the manifest lists with its sha256 (:mod:`.artifacts.reference_store`). The export itself
is judged against that file as written (decoded back from its bytes), and ``verify DIR`` /
``parity DIR`` judge the artifact against the same file, at their own tolerance, with no user
code at all. The state dict is stored too (safetensors), for the user; it is not needed to verify.
"""

from __future__ import annotations

import copy
import itertools
import re
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import torch
from torch import nn

from ..artifacts import ArtifactFolder, FileRecord, sha256_bytes
from ..artifacts.evidence import (
    REFERENCE,
    USER,
    StoredReference,
    decode_reference,
    encode_reference,
    reference_name,
)
from ..check.evidence import judge_stored
from ..check.parity import CASES, InputCase, make_cases
from ..check.reduced import default_tolerance
from ..errors import ExportError, InputError, InvalidSpecError, first_line
from ..pipeline import (
    Devices,
    ExportResult,
    Progress,
    entry_for,
    export_and_judge,
    land,
    prepared_reduced,
    reduced_step,
)
from ..spec import (
    DEFAULT_OPSET,
    OUTPUT_NAME,
    Exporter,
    ExportSpec,
    Format,
    InputSpec,
    Layout,
    ModelSpec,
    Precision,
    Tolerance,
    check_int,
)

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def network_spec(net: object, fmt: Format | str, input_shape: object,
                 layout: Layout | str = Layout.NCHW, name: str | None = None,
                 dynamic_hw: bool = False, opset: int = DEFAULT_OPSET,
                 exporter: Exporter | str = Exporter.AUTO) -> ExportSpec:
    """The spec of a network's artifact: the input's shape and layout, ``model`` = ``name``."""
    if not isinstance(net, nn.Module):
        raise InvalidSpecError(f"model must be a registered model name or a torch.nn.Module; "
                               f"got {type(net).__name__}")
    lay = Layout.parse(layout, "layout")
    shape = _shape(input_shape, lay)
    h, w = (shape[a] for a in lay.spatial_axes)
    model = ModelSpec(_name(net, name), shape[lay.channel_axis], None, lay)
    return ExportSpec(model, InputSpec(shape[0], h, w, dynamic_hw=bool(dynamic_hw)), fmt, opset,
                      exporter)


def _shape(input_shape: object, layout: Layout) -> tuple[int, ...]:
    axes = "(" + ", ".join(layout.axis_names) + ")"
    try:
        dims = tuple(input_shape)  # type: ignore[arg-type]
    except TypeError:
        raise InvalidSpecError(f"input_shape must be 4 ints {axes}; got {input_shape!r}") from None
    if len(dims) != 4:
        raise InvalidSpecError(f"input_shape must have 4 dims {axes} for layout {layout} (one "
                               f"image batch); got {len(dims)}: {dims!r}")
    limits = (4096, 1 << 16, 8192, 8192) if layout is Layout.NCHW else (4096, 8192, 8192, 1 << 16)
    return tuple(check_int(d, f"input_shape[{i}] ({layout.axis_names[i]})", 1, top)
                 for i, (d, top) in enumerate(zip(dims, limits, strict=True)))


def _name(net: nn.Module, name: str | None) -> str:
    if name is None:
        name = re.sub(r"[^a-z0-9_.-]+", "-", type(net).__name__.lower()).strip("-._") or "network"
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidSpecError(f"name must be 1-64 letters, digits, '.', '_' or '-' starting "
                               f"with a letter or digit (it names the files); got {name!r}")
    from ..registry import list_models

    if name in {m.name for m in list_models()}:
        raise InvalidSpecError(f"name {name!r} is a registered model; give the network another "
                               "name= (its files would take that model's names)")
    return name


def _prepared(net: nn.Module) -> nn.Module:
    """A float32 CPU copy in eval mode: the user's module is never changed."""
    try:
        ours = copy.deepcopy(net)
    except Exception as e:  # a module holding something uncopyable (a lock, a file)
        raise InvalidSpecError(f"cannot copy the network: {first_line(e)}") from None
    kinds = sorted({str(t.dtype).removeprefix("torch.")
                    for t in itertools.chain(ours.parameters(), ours.buffers())
                    if t.is_floating_point() and t.dtype != torch.float32})
    if kinds:
        raise InvalidSpecError(f"the network holds {', '.join(kinds)} tensors; artifacts are "
                               "float32: export net.float()")
    return ours.cpu().eval()


def _check_forward(net: nn.Module, spec: ExportSpec) -> None:
    """One forward pass at ``input_shape`` before any export work, for a clear error."""
    m, inp = spec.model, spec.input
    shape = inp.shape(m.layout, m.channels)
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    try:
        with torch.no_grad():
            y = net(x)
    except Exception as e:  # the user's code: any exception type
        raise InvalidSpecError(f"the network's forward fails on input_shape {list(shape)} "
                               f"({str(m.layout).upper()}): {first_line(e)}") from None
    if not isinstance(y, torch.Tensor):
        raise InvalidSpecError(f"the network returns a {type(y).__name__}; only a network "
                               "returning one tensor can be exported")
    if y.dtype != torch.float32:
        raise InvalidSpecError(f"the network returns {str(y.dtype).removeprefix('torch.')}; "
                               "only float32 outputs can be exported")


def _eager_outputs(eager: Any, cases: Sequence[InputCase], inp: InputSpec) -> list[np.ndarray]:
    """The outputs the artifact must reproduce; a batch or size the network refuses is the
    caller's error (the artifact is declared to take it), said in one line."""
    try:
        return [np.ascontiguousarray(eager.infer(c.x), dtype=np.float32) for c in cases]
    except InputError as e:
        takes = "any batch" + (" and H x W (dynamic_hw)" if inp.dynamic_hw else "")
        raise InvalidSpecError(f"the network must take {takes}, but {e}") from None


def _state_bytes(net: nn.Module, name: str) -> bytes:
    """The state dict as safetensors; tensors are copied, so tied weights do not refuse."""
    from safetensors.torch import save

    state = {k: v.detach().cpu().contiguous().clone() for k, v in sorted(net.state_dict().items())}
    return save(state, metadata={"model": name})  # one key: several are written unordered


def _export(net: nn.Module, spec: ExportSpec) -> Any:
    """The exporters of the registered blocks; a failure on a network that still holds
    attention blocks we can replace says so."""
    from ..export import export_bytes
    from .swap import attention_paths

    try:
        return export_bytes(net, spec, registered=False)
    except ExportError as e:
        paths = attention_paths(net)
        if not paths:
            raise
        raise ExportError(f"{e}; the network holds attention blocks that swap_attention "
                          f"replaces with export-friendly ones ({', '.join(paths[:4])}): "
                          "net, report = swap_attention(net, example), then export net") from None


def _output_record(ref: StoredReference) -> dict[str, Any]:
    """The output's dims as seen over the parity cases: fixed where they never changed."""
    shapes = [y.shape for y in ref.outputs]
    dims: list[int | str] = []
    for i in range(min(len(s) for s in shapes)):
        seen = {s[i] for s in shapes}
        batch = i == 0 and all(s[0] == x.shape[0] for s, x in zip(shapes, ref.inputs, strict=True))
        dims.append(seen.pop() if len(seen) == 1 else "batch" if batch else f"out_{i}")
    return {"name": OUTPUT_NAME, "dtype": "float32", "dims": dims}


def export_network(net: nn.Module, fmt: Format | str, *, input_shape: Sequence[int],
                   layout: Layout | str = Layout.NCHW, name: str | None = None,
                   dynamic_hw: bool = False, opset: int = DEFAULT_OPSET,
                   exporter: Exporter | str = Exporter.AUTO,
                   out: str | Any = "artifacts", tolerance: Tolerance | None = None,
                   parity_seed: int = 0, progress: Progress | None = None,
                   devices: Devices = None, keep_failed: bool = False,
                   precision: Precision | str = Precision.FP32, fp16_io: bool = False,
                   reduced: Any = None) -> ExportResult:
    """Export ``net`` (a copy, eval mode, CPU), judge it against its eager outputs on the hard
    cases at ``input_shape`` (batch dynamic, channels on ``layout``'s axis), and commit it with
    its reference file, or keep it out of the folder when it fails (see ``export_artifact``).
    ``precision`` fp16/int8: converted and judged against the same stored outputs."""
    from ..runtime import EagerRunner, require_devices, runners_for
    from ..runtime.validation import Expected

    say = progress or (lambda _msg: None)
    spec = replace(network_spec(net, fmt, input_shape, layout, name, dynamic_hw, opset,
                                exporter), precision=precision, fp16_io=fp16_io)
    require_devices(spec.format, devices)
    net = _prepared(net)
    _check_forward(net, spec)
    expected = Expected.from_spec(spec.model, spec.input)
    cases = make_cases(spec.model, spec.input, parity_seed, CASES)
    say(f"running {spec.model.name} eagerly on {len(cases)} parity inputs ...")
    outputs = _eager_outputs(EagerRunner(net, expected=expected), cases, spec.input)
    reduced = prepared_reduced(spec, reduced, devices)  # bad calibration data: before any file
    folder = ArtifactFolder(out)
    folder.ensure()  # after every check of the network, before the export work
    ref_data = encode_reference([c.name for c in cases], [c.x for c in cases], outputs,
                                model=spec.model.name, seed=parity_seed)
    ref = decode_reference(ref_data)  # judged by the file's bytes, exactly as verify will be
    weights_data = _state_bytes(net, spec.model.name)
    tol = tolerance or Tolerance()
    export, judge_file = (lambda: _export(net, spec)), (lambda data: judge_stored(
        runners_for(spec.format, data, net, expected, devices), ref, tol))
    step = reduced_step(spec, net, reduced, say)
    if step is not None:  # fp16/int8: judged against the same stored outputs
        tol = tolerance or default_tolerance(spec.precision)
        export = lambda: step.export(_export(net, spec))  # noqa: E731
        judge_file = lambda data: step.judge(  # noqa: E731
            data, [InputCase(n, x) for n, x in zip(ref.names, ref.inputs, strict=True)],
            tolerance, parity_seed, outputs=ref.outputs)
    checked = export_and_judge(spec, export, judge_file, tol, parity_seed, say)
    exported = checked.exported
    r_sha = sha256_bytes(ref_data)
    r_rel = reference_name(spec.model.stem, r_sha)
    entry = entry_for(spec, checked, weights_data, "applied")
    entry = replace(entry, files=(*entry.files, FileRecord(r_rel, r_sha, REFERENCE,
                                                           len(ref_data))),
                    outputs=(_output_record(ref),), source=USER, reference=r_rel)
    entry = step.annotate(entry) if step is not None else entry
    files = {spec.filename: exported.data, entry.weights: weights_data, r_rel: ref_data}
    path, written = land(folder, entry, files, keep_failed=keep_failed)
    return ExportResult(spec, path, entry.sha256, len(exported.data), path.parent / entry.weights,
                        exported.exporter, checked.seconds, checked.report,
                        exported.fallback_reason, checked.lint, written, path.parent / r_rel)


__all__ = ["export_network", "network_spec"]
