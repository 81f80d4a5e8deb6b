"""The golden model against hand-computed values of docs/semantics.md."""

import numpy as np
import pytest

from lwc.compiler import golden, ir


def one_layer(kind, weights, params, *, bits=4, shift=0, cbits=1, bias=(0,)):
    w = np.array([weights])
    act = ir.Activation(kind, shift=shift, bits=cbits)
    out = np.ones((1, 1), dtype=np.int64)
    return ir.from_dense(ir.InputSpec(w.shape[1], bits),
                         [(w, act, np.array([params])), (out, ir.Activation("linear"), bias)],
                         ["y"])


@pytest.mark.parametrize("s_inputs,t,expect", [((3, 1), 2, 1), ((1, 1), 0, 1), ((1, 2), 0, 0)])
def test_step(s_inputs, t, expect):
    net = one_layer("step", [1, -1], [t])
    trace = golden.evaluate(net, np.array([s_inputs]))
    assert trace.sums[0][0, 0] == s_inputs[0] - s_inputs[1]
    assert trace.outputs[0][0, 0] == expect


@pytest.mark.parametrize("x,expect", [(0, -1), (1, -1), (2, 0), (4, 0), (5, 1), (9, 1)])
def test_ternary(x, expect):
    net = one_layer("ternary", [1], [1, 5])
    assert golden.evaluate(net, np.array([[x]])).outputs[0][0, 0] == expect


@pytest.mark.parametrize("x,expect", [(0, 0), (3, 0), (4, 0), (5, 0), (6, 1), (7, 1), (12, 3),
                                      (15, 3)])
def test_clip_floor_shift(x, expect):
    # (x - 4) >> 1 clamped to 0..3; for x=3: (-1) >> 1 == -1 -> 0 (floor, not truncation).
    net = one_layer("clip", [1], [4], shift=1, cbits=2)
    assert golden.evaluate(net, np.array([[x]])).outputs[0][0, 0] == expect


def test_clip_negative_floor():
    net = one_layer("clip", [-1], [-2], shift=1, cbits=3)
    # s = -x; (s + 2) >> 1: x=3 -> (-1)>>1 = -1 -> 0 ; x=0 -> 1
    out = golden.evaluate(net, np.array([[3], [0], [1]])).outputs[0][:, 0]
    assert list(out) == [0, 1, 0]


def test_argmax_ties_go_to_lowest_index():
    w1 = np.eye(3, dtype=int)
    net = ir.from_dense(ir.InputSpec(3, 2), [
        (w1, ir.Activation("step"), [1, 1, 1]),
        (np.eye(3, dtype=int), ir.Activation("linear"), [0, 0, 0]),
    ], ["a", "b", "c"])
    x = np.array([[0, 3, 3], [3, 3, 3], [0, 0, 0], [0, 0, 1]])
    assert list(golden.predict(net, x)) == [1, 0, 0, 2]


def test_linear_bias_and_scores():
    net = one_layer("step", [1], [1], bias=(-7,))
    tr = golden.evaluate(net, np.array([[0], [5]]))
    assert list(tr.scores[:, 0]) == [-7, -6]


def test_quantizers():
    spec = ir.InputSpec(2, 4, ir.AffineQuantizer((15 / 16,), (0.5,)))
    q = golden.quantize(spec, np.array([[0, 16], [8, 7.9], [-5, 100], [np.nan, np.inf]]))
    assert q.tolist() == [[0, 15], [8, 7], [0, 15], [0, 15]]
    spec = ir.InputSpec(2, 2, ir.ThresholdQuantizer(((1.0, 2.0, 3.0), (10.0, 20.0, 30.0))))
    q = golden.quantize(spec, np.array([[0.5, 25], [3, 30], [2, 9.99]]))
    assert q.tolist() == [[0, 2], [3, 3], [2, 0]]


def test_matches_naive_python_on_random_nets(make_network, rng):
    for _ in range(20):
        net = make_network(rng, inputs=9, hidden=(7, 5), bits=int(rng.integers(1, 9)))
        x = rng.integers(0, net.input.max_value + 1, size=(40, 9))
        trace = golden.evaluate(net, x)
        for b in range(len(x)):
            a = list(x[b])
            for li, layer in enumerate(net.layers):
                sums = [sum(w * a[i] for i, w in zip(n.inputs, n.weights)) for n in layer.neurons]
                a = [ir.activation_value(layer.activation, n.params, s)
                     for n, s in zip(layer.neurons, sums)]
                assert list(trace.sums[li][b]) == sums
                assert list(trace.outputs[li][b]) == a


def test_integer_weights_match_naive_python(rng):
    """Weights beyond +-1 (up to 127): each input counts |w| times, with the sign of w."""
    for _ in range(10):
        w0 = rng.integers(-127, 128, size=(6, 9)) * (rng.random((6, 9)) < 0.4)
        w1 = rng.integers(-4, 5, size=(3, 6))
        net = ir.from_dense(ir.InputSpec(9, 4), [
            (w0, ir.Activation("step"), rng.integers(-300, 300, 6)),
            (w1, ir.Activation("linear"), rng.integers(-3, 4, 3)),
        ], ["a", "b", "c"])
        ir.verify(net)
        x = rng.integers(0, 16, size=(30, 9))
        trace = golden.evaluate(net, x)
        for b in range(len(x)):
            s0 = [int(sum(int(w0[i, j]) * int(x[b, j]) for j in range(9))) for i in range(6)]
            a0 = [int(s >= t) for s, t in zip(s0, (n.params[0] for n in net.layers[0].neurons))]
            assert list(trace.sums[0][b]) == s0 and list(trace.outputs[0][b]) == a0
            s1 = [sum(int(w1[i, j]) * a0[j] for j in range(6)) for i in range(3)]
            bias = [n.params[0] for n in net.layers[1].neurons]
            assert list(trace.scores[b]) == [s + c for s, c in zip(s1, bias)]


def test_int64_path_for_huge_sums():
    # 16-bit inputs and a wide fan-in push the bound past 2**53 only with huge nets, so check
    # the int64 path by forcing it.
    net = one_layer("step", [1, 1, -1], [0], bits=16)
    x = np.array([[65535, 65535, 1]])
    assert golden.evaluate(net, x).sums[0][0, 0] == 131069


def test_rejects_out_of_range_inputs():
    net = one_layer("step", [1], [0], bits=2)
    with pytest.raises(AssertionError, match="inputs out of range"):
        golden.evaluate(net, np.array([[4]]))


# --- input quantization: golden.quantize against docs/semantics.md, entry by entry ---------------

def reference_quantize(spec, features):
    """docs/semantics.md "Inputs" written independently, one feature at a time, in Python floats
    (IEEE-754 doubles: each ``*`` and ``+`` rounded to nearest, ties to even)."""
    import math

    q, top = spec.quantizer, spec.max_value
    rows = []
    for row in np.asarray(features).tolist():
        out = []
        for j, f in enumerate(row):
            f = float(f)  # widening: exact for float16/32
            if q is None:
                assert f == int(f) and 0 <= f <= top
                out.append(int(f))
            elif isinstance(q, ir.AffineQuantizer):
                s = q.scale[j if len(q.scale) > 1 else 0]
                o = q.offset[j if len(q.offset) > 1 else 0]
                if s == 0:
                    v = math.floor(o)
                elif math.isnan(f):
                    v = 0
                else:
                    v = f * s + o
                    v = v if math.isinf(v) else math.floor(v)
                out.append(int(min(max(v, 0), top)))
            else:
                t = q.thresholds[j if len(q.thresholds) > 1 else 0]
                out.append(sum(1 for tk in t if f >= tk))
        rows.append(out)
    return rows


AFFINE = [
    ir.AffineQuantizer((15 / 16,), (0.5,)),  # the digits quantizer: rounds pixels to 0..15
    ir.AffineQuantizer((1.0,), (4.0,)),  # 3 bits: -4..3 onto 0..7, ties on both signs
    ir.AffineQuantizer((0.1,), (0.0,)),
    ir.AffineQuantizer((1 / 49,), (0.0,)),
    ir.AffineQuantizer((2.3125,), (-7.7,)),  # fitted-looking scale and negative offset
]


def boundary_values(q, top):
    """Features at and one float64 step, and one float32 step, either side of every value where
    ``f * scale + offset`` crosses an integer (``k - 0.5`` too: the halves)."""
    s, o = q.scale[0], q.offset[0]
    values = []
    for k in np.arange(-3, top + 4, 0.5):
        b = (k - o) / s
        values += [b, np.nextafter(b, -np.inf), np.nextafter(b, np.inf)]
        b32 = np.float32(b)
        values += [float(b32), float(np.nextafter(b32, np.float32(-np.inf))),
                   float(np.nextafter(b32, np.float32(np.inf)))]
    return np.array(values + [0.0, -0.0])


@pytest.mark.parametrize("q", AFFINE, ids=lambda q: f"scale={q.scale[0]:.4g},offset={q.offset[0]}")
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_affine_at_every_rounding_boundary(q, dtype):
    spec = ir.InputSpec(1, 3 if q.offset[0] == 4.0 else 4, q)
    x = boundary_values(q, spec.max_value).astype(dtype)[:, None]
    assert golden.quantize(spec, x).tolist() == reference_quantize(spec, x)


def test_affine_floor_has_no_ties_and_an_offset_of_a_half_rounds_halves_up():
    spec = ir.InputSpec(1, 3, ir.AffineQuantizer((1.0,), (4.0,)))
    f = [-4.5, -3.5, -2.5, -1.5, -0.5, -0.0, 0.0, 0.5, 1.5, 2.5, 3.5]
    assert golden.quantize(spec, np.array(f)[:, None]).ravel().tolist() == [
        0, 0, 1, 2, 3, 4, 4, 4, 5, 6, 7]
    half = ir.InputSpec(1, 4, ir.AffineQuantizer((1.0,), (0.5,)))
    assert golden.quantize(half, np.array([[0.5], [1.5], [2.5], [-0.5], [-1.5]])).ravel().tolist() \
        == [1, 2, 3, 0, 0]


def test_affine_rounds_the_product_and_the_sum_in_float64():
    """Each IEEE operation is rounded before the floor: 49 * (1/49) is 0.9999999999999999 (floor
    0), and 0.49999999999999994 + 0.5 rounds to 1.0 (ties to even; floor 1), where exact
    arithmetic would give 1 and 0."""
    spec = ir.InputSpec(1, 4, ir.AffineQuantizer((1 / 49,), (0.0,)))
    assert golden.quantize(spec, np.array([[49.0]])).item() == 0
    spec = ir.InputSpec(1, 4, ir.AffineQuantizer((1.0,), (0.5,)))
    below = np.nextafter(0.5, 0.0)
    assert golden.quantize(spec, np.array([[below]])).item() == 1
    assert golden.quantize(spec, np.array([[np.nextafter(2.5, 0.0)]])).item() == 2


def test_float32_features_are_widened_exactly_first():
    """A float32 0.1 is 0.100000001490116..., so with scale 10 it quantizes to 1, where the float64
    0.1 gives floor(1.0000000000000002)... and 0.7 shows the two sides of a boundary."""
    spec = ir.InputSpec(1, 4, ir.AffineQuantizer((10.0,), (0.0,)))
    x64 = np.array([[0.7]])
    x32 = x64.astype(np.float32)
    assert float(x32[0, 0]) < 0.7  # float32 0.7 is 0.699999988...
    assert golden.quantize(spec, x64).item() == 7
    assert golden.quantize(spec, x32).item() == 6
    assert golden.quantize(spec, x32).item() == golden.quantize(spec, x32.astype(np.float64)).item()
    assert golden.quantize(spec, np.array([[7]], dtype=np.int8)).item() == 15


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_random_per_feature_affine_matches_the_reference(dtype):
    rng = np.random.default_rng(7)
    count = 6
    scale = tuple(float(v) for v in rng.uniform(0.01, 40, count)) + (0.0,)
    offset = tuple(float(v) for v in rng.uniform(-20, 20, count)) + (2.75,)
    spec = ir.InputSpec(count + 1, 5, ir.AffineQuantizer(scale, offset))
    x = rng.normal(0, 2, size=(400, count + 1)) * rng.choice([0.01, 1, 100], size=(400, 1))
    x[::17, 0] = np.nan
    x[::19, 1] = np.inf
    x[::23, 2] = -np.inf
    x = x.astype(dtype)
    assert golden.quantize(spec, x).tolist() == reference_quantize(spec, x)


def test_non_finite_features():
    nan, inf = np.nan, np.inf
    x = np.array([[nan, nan, nan], [inf, inf, inf], [-inf, -inf, -inf]])
    spec = ir.InputSpec(3, 3, ir.AffineQuantizer((0.5, 0.0, 2.0), (0.25, 5.9, -1.0)))
    # scale 0: the constant floor(5.9) = 5, whatever the feature; otherwise NaN 0, +inf 7, -inf 0
    assert golden.quantize(spec, x).tolist() == [[0, 5, 0], [7, 5, 7], [0, 5, 0]]
    spec = ir.InputSpec(3, 2, ir.ThresholdQuantizer(((1.0, 2.0, 3.0),)))
    assert golden.quantize(spec, x).tolist() == [[0, 0, 0], [3, 3, 3], [0, 0, 0]]


def test_thresholds_count_values_at_or_above_each_threshold():
    t = (-1.5, 0.0, 0.0, 2.0, 2.0, 2.0, 9.0)
    spec = ir.InputSpec(1, 3, ir.ThresholdQuantizer((t,)))
    f = [-2.0, -1.5, np.nextafter(-1.5, -9), -0.0, 0.0, 1.99, 2.0, 8.0, 9.0, 1e30]
    for dtype in (np.float64, np.float32):
        x = np.array(f, dtype=dtype)[:, None]
        assert golden.quantize(spec, x).tolist() == reference_quantize(spec, x)
    assert golden.quantize(spec, np.array(f)[:, None]).ravel().tolist() == [
        0, 1, 0, 3, 3, 3, 6, 6, 7, 7]


def test_no_quantizer_reads_integers_in_range_and_refuses_the_rest():
    from lwc.errors import DataError

    spec = ir.InputSpec(2, 2)
    assert golden.quantize(spec, np.array([[0, 3], [1.0, 2.0]])).tolist() == [[0, 3], [1, 2]]
    for bad, shown in ((2.5, "2.5"), (np.nan, "nan"), (-1, "-1.0"), (4, "4.0"), (-0.5, "-0.5")):
        with pytest.raises(DataError) as err:
            golden.quantize(spec, np.array([[0, bad]]))
        assert str(err.value) == (f"feature [0, 1] is {shown}; a net without an input quantizer "
                                  "reads integers in 0..3")


@pytest.mark.parametrize("scale,shown", [(-0.5, "-0.5"), (-0.0, "-0.0"), (-1e-300, "-1e-300")])
def test_negative_and_minus_zero_scales_are_refused(scale, shown):
    spec = ir.InputSpec(2, 3, ir.AffineQuantizer((1.0, scale), (0.0,)))
    message = (f"quantizer scale[1] is {shown}; an affine scale must be positive, or +0.0 for a "
               "constant input")
    assert golden.quantizer_problem(spec) == message
    with pytest.raises(ValueError) as err:
        golden.quantize(spec, np.zeros((1, 2)))
    assert str(err.value) == message


def test_feature_dtypes():
    from lwc.errors import DataError

    spec = ir.InputSpec(1, 4, ir.AffineQuantizer((1.0,), (0.0,)))
    assert golden.quantize(spec, np.array([[3]], dtype=np.float16)).item() == 3
    assert golden.quantize(spec, np.array([[True]])).item() == 1
    with pytest.raises(DataError, match="not dtype complex128"):
        golden.quantize(spec, np.array([[1j]]))
    with pytest.raises(DataError, match="float16/32/64, not dtype"):
        golden.quantize(spec, np.array([[1.0]], dtype=np.longdouble))


def test_the_affine_function_of_the_semantics_doc_is_golden_quantize():
    """The Python of docs/semantics.md ("Inputs") agrees with golden.quantize, boundaries, NaN,
    infinities and a zero scale included."""
    import math
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "semantics.md").read_text()
    code = text.split("## Inputs")[1].split("```python\n")[1].split("```")[0]
    scope = {"math": math}
    exec(code, scope)
    affine = scope["affine"]
    for q in [*AFFINE, ir.AffineQuantizer((0.0,), (2.7,))]:
        spec = ir.InputSpec(1, 4, q)
        f = np.concatenate([boundary_values(q, 15) if q.scale[0] else [],
                            [np.nan, np.inf, -np.inf, -0.0, 1e308]])
        assert golden.quantize(spec, f[:, None]).ravel().tolist() == [
            affine(v, q.scale[0], q.offset[0], 4) for v in f]
