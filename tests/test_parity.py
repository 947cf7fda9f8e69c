"""Parity measures, then judges; a wrong export fails and says what would have passed."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from chanattn_export.check.cases import CASES, LARGE, make_cases, parity_batches, parity_sizes
from chanattn_export.check.parity import ParityReport, compare, input_scale, judge, measure
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


# -- the tolerance scale is linear in the input's magnitude -----------------------------------


@pytest.mark.parametrize("scale", [4.0, 250.0])
def test_atol_is_linear_in_scale_just_under_passes_just_over_fails(scale: float) -> None:
    """The bound is atol * max(1, max|x|), not its square nor a constant."""
    tol = Tolerance(atol=1e-3, rtol=0.0)
    e = np.zeros(6, dtype=np.float64)
    limit = tol.atol * scale
    under = compare("b", "c", e, e + 0.99 * limit, scale=scale)
    over = compare("b", "c", e, e + 1.01 * limit, scale=scale)
    assert judge([under], tol).passed
    assert not judge([over], tol).passed
    assert under.needed_atol(0.0) == pytest.approx(0.99 * tol.atol)
    assert over.needed_atol(0.0) == pytest.approx(1.01 * tol.atol)


def test_input_scale_is_max_abs_finite_value_at_least_one() -> None:
    assert input_scale(np.array([0.25, -0.5], dtype=np.float32)) == 1.0
    assert input_scale(np.array([3.0, -250.0, 7.0], dtype=np.float32)) == 250.0
    assert input_scale(np.array([np.inf, -np.nan, -40.0], dtype=np.float32)) == 40.0


def test_a_005_error_on_the_large_input_fails_at_default_tolerance() -> None:
    """max|x| of the x100 case is a few hundred: atol 1e-5 allows ~3e-3 there, not 0.05."""
    model, inp = ModelSpec("se", 4, 2), InputSpec(batch=1, height=3, width=3)
    cases = make_cases(model, inp, cases=["large"])
    ref = _Fn("eager-cpu", lambda x: x * 0.5)

    def off_by(err: float) -> _Fn:
        def fn(x):
            y = x * 0.5
            y.flat[0] += err
            return y
        return _Fn("bad", fn)

    report = judge(measure(ref, [off_by(0.05)], cases), Tolerance())
    assert not report.passed and len(report.failures) == len(cases)
    for c, case in zip(report.checks, cases, strict=True):  # (err - rtol |e|) / max|x|
        e0 = abs(0.5 * float(case.x.flat[0]))
        assert c.needed_atol == pytest.approx((0.05 - 1e-4 * e0) / input_scale(case.x), rel=1e-3)
    # ... while an error well inside atol * max|x| passes on the same inputs.
    assert judge(measure(ref, [off_by(1e-4)], cases), Tolerance()).passed


# -- the hard cases are hard ------------------------------------------------------------------

HARD = [(ModelSpec("se", 6, 2, Layout.NCHW), InputSpec(batch=1, height=5, width=4)),
        (ModelSpec("eca", 6, None, Layout.NHWC), InputSpec(batch=2, height=4, width=5))]


def _by_case(model: ModelSpec, inp: InputSpec) -> dict[str, list[np.ndarray]]:
    out: dict[str, list[np.ndarray]] = {}
    for c in make_cases(model, inp):
        out.setdefault(c.name, []).append(c.x)
    return out


@pytest.mark.parametrize("model,inp", HARD)
def test_hard_cases_are_what_their_names_say(model: ModelSpec, inp: InputSpec) -> None:
    cases = _by_case(model, inp)
    assert set(cases) == set(CASES)
    c_axis = model.layout.channel_axis
    for x in cases["large"]:  # float32 rounding must have something to grow on
        assert LARGE >= 50 and np.abs(x).max() >= 0.5 * LARGE
    for x in cases["random"]:
        assert 0.5 < np.abs(x).max() < LARGE / 10
    for x in cases["constant"]:
        assert x.min() == x.max() != 0
    for x in cases["negative"]:
        assert (x < 0).all()
    for x in cases["saturate"]:
        # sigmoid within 1e-6 of 0 or 1 (|x| > 13.8) for nearly every value, both ends used,
        # and one sign per channel: the offsets sit on the layout's channel axis.
        assert (np.abs(x) > 13.9).mean() > 0.99
        per_channel = np.moveaxis(x, c_axis, 0).reshape(x.shape[c_axis], -1)
        signs = np.sign(per_channel.mean(axis=1))
        assert (np.sign(per_channel) == signs[:, None]).all()
        assert {-1.0, 1.0} <= set(signs.tolist())


def test_a_backend_clipping_at_50_fails_only_on_the_large_case() -> None:
    model, inp = ModelSpec("se", 4, 2), InputSpec(batch=1, height=3, width=3)
    cases = make_cases(model, inp)
    ref = _Fn("eager-cpu", lambda x: x.copy())
    clip = _Fn("clipping", lambda x: np.clip(x, -50, 50))
    report = judge(measure(ref, [clip], cases), Tolerance())
    assert not report.passed
    assert {c.case for c in report.failures} == {"large"}
    assert len(report.failures) == sum(c.name == "large" for c in cases)  # every batch and size


def test_a_real_model_fed_clipped_inputs_fails_only_on_the_large_case() -> None:
    import torch

    from chanattn_export.registry import build_model

    model, inp = ModelSpec("cbam-channel", 8, 4), InputSpec(batch=1, height=3, width=3)
    net = build_model(model)

    def run(x):
        with torch.no_grad():
            return net(torch.from_numpy(x)).numpy()

    ref = _Fn("eager-cpu", run)
    clip = _Fn("clipping", lambda x: run(np.clip(x, -50, 50)))
    report = judge(measure(ref, [clip], make_cases(model, inp)), Tolerance())
    assert {c.case for c in report.failures} == {"large"}


# -- the numbers a report shows, exactly ------------------------------------------------------


def test_compare_reports_max_abs_max_rel_and_one_sided_nans_quietly() -> None:
    e = np.array([0.5, 2.0, 0.0, np.inf, -np.inf, np.nan, np.nan, 4.0])
    a = np.array([0.75, 2.5, 0.0, np.inf, -np.inf, np.nan, 1.0, 4.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # inf - inf and 0 / 0 must not warn on the CLI
        d = compare("ort", "random", e, a, scale=3.0)
        needed = d.needed_atol(0.0)
    assert (d.backend, d.case, d.shape, d.shape_ok, d.scale) == ("ort", "random", (8,), True, 3.0)
    assert (d.max_abs, d.max_rel, d.nan_mismatch) == (0.5, 0.5, 1)
    assert needed == np.inf  # the one-sided NaN
    assert compare("b", "c", e[:5], a[:5], scale=2.0).needed_atol(0.0) == 0.5 / 2.0


def test_relative_error_where_expected_is_zero_or_infinite_is_infinite() -> None:
    d = compare("b", "c", np.array([0.0, 2.0, 0.0]), np.array([1e-3, 2.0, 0.0]))
    assert (d.max_abs, d.max_rel) == (1e-3, np.inf)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        opposite = compare("b", "c", np.array([np.inf, 1.0]), np.array([-np.inf, 1.0]))
        assert opposite.needed_atol(1e-4) == np.inf
    assert opposite.max_abs > 1e300 and opposite.max_rel == np.inf and opposite.nan_mismatch == 0


def test_empty_outputs_compare_equal() -> None:
    d = compare("b", "c", np.zeros((0, 3), np.float32), np.zeros((0, 3), np.float32))
    assert (d.max_abs, d.max_rel, d.nan_mismatch, d.needed_atol(1e-4)) == (0.0, 0.0, 0, 0.0)
    assert input_scale(np.zeros((0, 3), np.float32)) == 1.0


def test_shape_mismatch_diff_fields() -> None:
    d = compare("ort", "large", np.zeros((2, 3)), np.zeros((3, 2)), scale=7.0)
    assert (d.backend, d.case, d.shape, d.shape_ok, d.scale) == ("ort", "large", (3, 2), False,
                                                                 7.0)
    assert (d.max_abs, d.max_rel, d.nan_mismatch) == (np.inf, np.inf, 0)
    assert d.needed_atol(0.0) == np.inf


def test_needed_atol_exactly_at_atol_passes() -> None:
    d = compare("b", "c", np.zeros(2), np.array([0.5, 0.0]))
    assert judge([d], Tolerance(atol=0.5, rtol=0.0)).passed
    assert not judge([d], Tolerance(atol=0.4999, rtol=0.0)).passed


def test_judge_copies_the_measured_numbers_and_seed() -> None:
    e = np.array([np.nan, 1.0, 0.0])
    d = compare("b", "saturate", e, np.array([1.0, 1.5, 0.0]), scale=2.0)
    report = judge([d], Tolerance(atol=1e-3, rtol=1e-4))
    (c,) = report.checks
    assert report.seed == 0 and judge([d], Tolerance(), seed=9).seed == 9
    assert (c.backend, c.case, c.shape, c.max_abs, c.max_rel, c.nan_mismatch, c.passed) == \
        ("b", "saturate", (3,), 0.5, 0.5, 1, False)
    assert c.needed_atol == d.needed_atol(1e-4) == np.inf


def test_report_dict_is_strict_json_with_the_documented_keys() -> None:
    import json

    ok = compare("b", "c", np.ones(2), np.ones(2) + 1e-7)
    bad = compare("b", "d", np.zeros(2), np.zeros(3))
    rep = judge([ok, bad], Tolerance(2e-5, 3e-4), seed=4)
    d = json.loads(json.dumps(rep.to_dict(), allow_nan=False))
    assert (d["passed"], d["atol"], d["rtol"], d["seed"]) == (False, 2e-5, 3e-4, 4)
    good, wrong = d["checks"]
    assert set(good) == {"backend", "case", "shape", "max_abs", "max_rel", "needed_atol",
                         "nan_mismatch", "passed", "nonfinite_reference", "reference"}
    assert good["reference"] == "eager"  # judged against an eager module, not stored outputs
    assert good["shape"] == [2] and good["passed"] is True
    assert isinstance(good["max_abs"], float) and good["max_abs"] == pytest.approx(1e-7)
    assert (wrong["max_abs"], wrong["max_rel"], wrong["needed_atol"]) == ("inf", "inf", "inf")
    assert wrong["shape"] == [3]
    assert ParityReport.from_dict(d).checks == rep.checks


def test_report_from_an_old_dict_without_seed_or_checks() -> None:
    rep = ParityReport.from_dict({"atol": 1e-5, "rtol": 1e-4})
    assert rep.checks == () and rep.seed == 0 and not rep.passed
    assert rep.tolerance == Tolerance(1e-5, 1e-4)


def test_backends_in_first_seen_order() -> None:
    e = np.zeros(2)
    rep = judge([compare(b, "c", e, e) for b in ("ort-cuda", "ort-cpu", "ort-cuda")], Tolerance())
    assert rep.backends() == ["ort-cuda", "ort-cpu"]


def test_cases_cover_exactly_every_batch_and_size() -> None:
    model = ModelSpec("se", 4, 2, Layout.NHWC)
    inp = InputSpec(batch=2, height=12, width=5, dynamic_hw=True)
    sizes = parity_sizes(inp)
    assert sizes[0] == (12, 5) and len(sizes) == 2
    assert sizes[1] != sizes[0] and sizes[1][1] != 5 and min(sizes[1]) >= 1
    cases = make_cases(model, inp)
    want = [(n, h, w, 4) for h, w in sizes for n in parity_batches(inp) for _ in CASES]
    assert [c.x.shape for c in cases] == want
    assert [c.name for c in cases] == list(CASES) * (len(want) // len(CASES))
    default = make_cases(model, inp)
    assert all(np.array_equal(a.x, b.x) for a, b in
               zip(default, make_cases(model, inp, seed=0), strict=True))
    assert not np.array_equal(default[0].x, make_cases(model, inp, seed=1)[0].x)


def test_static_sizes_and_batch() -> None:
    inp = InputSpec(batch=4, height=3, width=3, dynamic_batch=False)
    assert parity_sizes(inp) == [(3, 3)]
    assert parity_batches(inp) == [4]
    assert parity_sizes(InputSpec(height=1, width=1, dynamic_hw=True))[1] == (3, 8)


def test_saturate_varies_within_each_channel_and_unknown_cases_are_refused() -> None:
    (c,) = make_cases(ModelSpec("se", 4, 2),
                      InputSpec(batch=1, height=4, width=4, dynamic_batch=False),
                      cases=["saturate"])
    assert (c.x.reshape(4, -1).std(axis=1) > 0.3).all()  # noise on top: avg != max
    with pytest.raises(ValueError, match="unknown parity case 'nope'"):
        make_cases(ModelSpec("se", 4, 2), InputSpec(batch=1, height=4, width=4), cases=["nope"])


def test_measure_pairs_each_case_with_its_own_reference() -> None:
    model, inp = ModelSpec("se", 4, 2), InputSpec(batch=1, height=2, width=2)
    cases = make_cases(model, inp)
    calls: list[int] = []

    def ref_fn(x):
        calls.append(x.shape[0])
        return x * 2

    diffs = measure(_Fn("eager", ref_fn), [_Fn("a", lambda x: x * 2)], cases)
    assert len(calls) == len(cases) and len(diffs) == len(cases)
    assert [d.case for d in diffs] == [c.name for c in cases]
    assert all(d.max_abs == 0 and d.scale == input_scale(c.x) for d, c in
               zip(diffs, cases, strict=True))
