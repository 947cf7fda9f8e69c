"""Parity measures, then judges; a wrong export fails and says what would have passed."""

from __future__ import annotations

import numpy as np
import pytest

from chanattn_export.parity import (
    ParityReport,
    compare,
    judge,
    make_cases,
    measure,
    parity_batches,
)
from chanattn_export.spec import InputSpec, Layout, ModelSpec, Tolerance


class _Fn:
    def __init__(self, name, fn):
        self.name, self.fn = name, fn

    def infer(self, x):
        return self.fn(x)


def test_identical_outputs_pass_with_zero_error() -> None:
    e = np.linspace(-3, 3, 24, dtype=np.float32).reshape(1, 2, 3, 4)
    d = compare("b", "random", e, e.copy())
    assert (d.max_abs, d.max_rel, d.needed_atol(1e-4)) == (0.0, 0.0, 0.0)
    assert judge([d], Tolerance()).passed


def test_allclose_bound_and_needed_atol() -> None:
    e = np.array([1.0, 100.0], dtype=np.float32)
    a = e + np.array([2e-5, 5e-3], dtype=np.float32)
    d = compare("b", "random", e, a)
    # |a-e| - rtol*|e| = 2e-5 - 1e-4 < 0 and 5e-3 - 1e-2 < 0: passes at rtol 1e-4? No: 1e-4*100=1e-2
    assert judge([d], Tolerance(atol=1e-5, rtol=1e-4)).passed
    strict = judge([d], Tolerance(atol=1e-5, rtol=1e-6))
    assert not strict.passed
    needed = strict.checks[0].needed_atol
    assert needed == pytest.approx(5e-3 - 1e-4, rel=1e-3)
    assert judge([d], Tolerance(atol=needed * 1.001, rtol=1e-6)).passed


def test_atol_scales_with_input_magnitude() -> None:
    e = np.zeros(4, dtype=np.float32)
    a = e + 5e-4
    assert not judge([compare("b", "large", e, a, scale=1.0)], Tolerance()).passed
    assert judge([compare("b", "large", e, a, scale=100.0)], Tolerance()).passed


def test_nan_equal_only_where_both_sides_are_nan() -> None:
    e = np.array([np.nan, 1.0, 2.0], dtype=np.float32)
    assert judge([compare("b", "c", e, e.copy())], Tolerance()).passed
    one_sided = compare("b", "c", e, np.array([np.nan, np.nan, 2.0], dtype=np.float32))
    assert one_sided.nan_mismatch == 1
    assert not judge([one_sided], Tolerance()).passed
    other = compare("b", "c", e, np.array([0.0, 1.0, 2.0], dtype=np.float32))
    assert other.nan_mismatch == 1 and not judge([other], Tolerance()).passed


def test_equal_infinities_pass_opposite_ones_fail() -> None:
    e = np.array([np.inf, -np.inf], dtype=np.float32)
    assert judge([compare("b", "c", e, e.copy())], Tolerance()).passed
    assert not judge([compare("b", "c", e, -e)], Tolerance()).passed


def test_shape_mismatch_fails() -> None:
    d = compare("b", "c", np.zeros((2, 3)), np.zeros((3, 2)))
    assert not d.shape_ok and not judge([d], Tolerance()).passed


def test_cases_cover_batches_sizes_and_hard_inputs() -> None:
    model = ModelSpec("se", 4, 2, Layout.NHWC)
    inp = InputSpec(batch=1, height=5, width=6, dynamic_hw=True)
    cases = make_cases(model, inp)
    shapes = {c.x.shape for c in cases}
    assert (1, 5, 6, 4) in shapes and (3, 5, 6, 4) in shapes and (2, 5, 6, 4) in shapes
    assert any(s[1:3] != (5, 6) for s in shapes)
    const = next(c.x for c in cases if c.name == "constant")
    assert const.mean() == const.max()
    assert (next(c.x for c in cases if c.name == "negative") < 0).all()
    assert all(c.x.dtype == np.float32 and c.x.flags.c_contiguous for c in cases)
    again = make_cases(model, inp)
    assert all(np.array_equal(a.x, b.x) for a, b in zip(cases, again, strict=True))


def test_parity_batches() -> None:
    assert parity_batches(InputSpec(batch=1)) == [1, 2, 3]
    assert parity_batches(InputSpec(batch=3)) == [1, 3, 5]
    assert parity_batches(InputSpec(batch=8)) == [1, 3, 8]


def test_a_wrong_backend_fails_and_names_backend_case_and_batch() -> None:
    model, inp = ModelSpec("se", 4, 2), InputSpec(batch=1, height=3, width=3)
    cases = make_cases(model, inp)
    ref = _Fn("eager-cpu", lambda x: x * 0.5)
    good = _Fn("good", lambda x: x * 0.5)
    bad = _Fn("bad", lambda x: x * 0.5 + (x.shape[0] == 3) * 1e-3)  # wrong only at batch 3
    report = judge(measure(ref, [good, bad], cases), Tolerance())
    assert not report.passed
    assert {c.backend for c in report.failures} == {"bad"}
    assert {c.shape[0] for c in report.failures} == {3}
    assert report.worst("bad").passed is False and report.worst("good").passed


def test_report_round_trips_through_json_dict() -> None:
    e = np.zeros(3, dtype=np.float32)
    rep = judge([compare("b", "c", e, e), compare("b", "d", np.zeros(2), np.zeros(3))],
                Tolerance(2e-5, 3e-4), seed=4)
    again = ParityReport.from_dict(rep.to_dict())
    assert again.tolerance == rep.tolerance and again.seed == 4
    assert again.checks == rep.checks and again.passed is False


def test_empty_report_does_not_pass() -> None:
    assert not ParityReport(Tolerance(), ()).passed
