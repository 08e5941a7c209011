"""Tests of course.viz: every explorer's numbers against direct course.ops (and torch) calls."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from PIL import Image

import course.ops as ops
from course import data, viz

DECK_OUTPUT = np.array([[-1, -4, -14], [6, -3, -13], [9, -6, -8]])


def _texts(fig: Figure) -> str:
    """Every string drawn in the figure, for checking what a student reads."""
    parts = [t.get_text() for t in fig.texts]
    for ax in fig.axes:
        parts += [t.get_text() for t in ax.texts] + [ax.get_title()]
        parts += [label for c in ax.collections for label in getattr(c, "strings", ())]
    if fig._suptitle is not None:
        parts.append(fig._suptitle.get_text())
    return "\n".join(parts)


# ----------------------------------------------------------------------------- 1. step by step


def test_conv_step_reproduces_the_deck_example_step_by_step():
    for step in range(9):
        res = viz.conv_step(viz.DECK_INPUT, viz.VERTICAL_EDGE, step)
        np.testing.assert_array_equal(res["output"], DECK_OUTPUT)
        np.testing.assert_array_equal(res["output"], ops.correlate2d(viz.DECK_INPUT, viz.VERTICAL_EDGE))
        r, c = divmod(step, 3)
        assert res["position"] == (r, c)
        np.testing.assert_array_equal(res["window"], viz.DECK_INPUT[r : r + 3, c : c + 3])
        assert res["products"].sum() == res["value"] == DECK_OUTPUT[r, c]
    assert viz.conv_step(viz.DECK_INPUT, viz.VERTICAL_EDGE, 2)["value"] == -14
    assert viz.conv_step(viz.DECK_INPUT, viz.VERTICAL_EDGE, 3)["value"] == 6


def test_conv_step_flip_is_convolution():
    rng = np.random.default_rng(0)
    x, k = rng.integers(-5, 6, (6, 7)), rng.integers(-3, 4, (3, 2))
    for step in (0, 7, 19):
        res = viz.conv_step(x, k, step, flip=True)
        np.testing.assert_array_equal(res["output"], ops.convolve2d(x, k))
        np.testing.assert_array_equal(res["applied_kernel"], k[::-1, ::-1])
        assert res["products"].sum() == pytest.approx(res["value"])
        assert res["value"] == res["output"][res["position"]]


def test_conv_step_one_d_matches_conv1d():
    x, k = np.array([1, 3, 2, 3, 10, 5, 2, 2]), np.array([1, 0, -1])
    res = viz.conv_step(x, k, 4)
    expected = ops.conv1d(x[None, None], k[None, None])[0, 0]
    np.testing.assert_array_equal(res["output"], expected)
    assert res["one_d"] and res["n_steps"] == 6 and res["position"] == (0, 4)
    assert res["value"] == expected[4] == res["products"].sum()
    flipped = viz.conv_step(x, k, 0, flip=True)["output"]
    np.testing.assert_array_equal(flipped, ops.conv1d(x[None, None], k[::-1].copy()[None, None])[0, 0])


def test_conv_step_wraps_and_checks_inputs():
    assert viz.conv_step(viz.DECK_INPUT, viz.VERTICAL_EDGE, 9)["position"] == (0, 0)
    assert viz.conv_step(viz.DECK_INPUT, viz.VERTICAL_EDGE, -1)["position"] == (2, 2)
    with pytest.raises(ValueError, match="both be 1-D or both 2-D"):
        viz.conv_step(np.ones(5), np.ones((3, 3)))
    with pytest.raises(ValueError, match="larger than"):
        viz.conv_step(np.ones((2, 2)), np.ones((3, 3)))
    with pytest.raises(TypeError, match="`step`"):
        viz.conv_step(viz.DECK_INPUT, viz.VERTICAL_EDGE, 1.5)
    with pytest.raises(TypeError, match="`x`"):
        viz.conv_step(np.array([["a"]]), viz.VERTICAL_EDGE)


def test_plot_conv_step_shows_the_sum_and_the_filled_output():
    fig = viz.plot_conv_step(viz.DECK_INPUT, viz.VERTICAL_EDGE, 2)
    assert isinstance(fig, Figure)
    text = _texts(fig)
    assert "3×1 + 4×0 + 5×-1 + 2×1 + 3×0 + 10×-1 + 1×1 + 4×0 + 5×-1 = -14" in text
    assert "step 3 of 9" in text
    out_grid = fig.axes[3]
    shown = [label for c in out_grid.collections for label in getattr(c, "strings", ())]
    assert shown == ["-1", "-4", "-14"]  # filled up to the current step only
    assert "flipped" in _texts(viz.plot_conv_step(viz.DECK_INPUT, viz.VERTICAL_EDGE, 0, flip=True))


def test_parse_matrix():
    np.testing.assert_array_equal(viz.parse_matrix("1 2\n3 4"), [[1, 2], [3, 4]])
    np.testing.assert_array_equal(viz.parse_matrix("[1, 2; 3, 4]"), [[1, 2], [3, 4]])
    assert viz.parse_matrix("1 0.5").dtype == np.float64
    np.testing.assert_array_equal(viz.parse_matrix("1 0 -1", ndim=1), [1, 0, -1])
    with pytest.raises(ValueError, match="row 2: 'x' is not a number"):
        viz.parse_matrix("1 2\n3 x", "x")
    with pytest.raises(ValueError, match="different lengths"):
        viz.parse_matrix("1 2\n3")
    with pytest.raises(ValueError, match="empty"):
        viz.parse_matrix("  ")
    with pytest.raises(ValueError, match="single row"):
        viz.parse_matrix("1\n2", ndim=1)
    with pytest.raises(TypeError):
        viz.parse_matrix(3)


# ----------------------------------------------------------------------------- 2. arithmetic

SETTINGS = [
    dict(input_size=5, kernel_size=3),
    dict(input_size=5, kernel_size=3, padding=1, stride=2),
    dict(input_size=7, kernel_size=3, dilation=2),
    dict(input_size=6, kernel_size=3, padding=1, stride=2),
    dict(input_size=5, kernel_size=4, padding=2),
    dict(input_size=7, kernel_size=2, stride=3, padding=1, dilation=2),
]


@pytest.mark.parametrize("settings", SETTINGS)
def test_conv_arithmetic_footprint_matches_the_conv_matrix(settings):
    s = dict(stride=1, padding=0, dilation=1) | settings
    size = ops.conv_output_size(s["input_size"], s["kernel_size"], s["stride"], s["padding"], s["dilation"])
    i, k = s["input_size"], s["kernel_size"]
    out = ops.conv2d(np.zeros((1, 1, i, i)), np.zeros((1, 1, k, k)), stride=s["stride"], padding=s["padding"],
                     dilation=s["dilation"])
    assert out.shape[-2:] == (size, size)
    M = ops.conv_matrix((1, i, i), np.ones((1, 1, k, k)), stride=s["stride"], padding=s["padding"],
                        dilation=s["dilation"])
    for step in range(size * size):
        res = viz.conv_arithmetic(**settings, step=step)
        assert res["error"] is None and res["output_size"] == size and res["n_steps"] == size * size
        assert res["output_cell"] == divmod(step, size)
        expected = sorted(divmod(int(j), i) for j in np.flatnonzero(M[step]))
        assert res["footprint_inputs"] == expected


@pytest.mark.parametrize("settings", [
    dict(input_size=3, kernel_size=3, stride=2),
    dict(input_size=2, kernel_size=2),
    dict(input_size=3, kernel_size=3, stride=2, padding=1),
    dict(input_size=4, kernel_size=3, stride=3, padding=2, dilation=1),
    dict(input_size=3, kernel_size=2, stride=2, dilation=2),
    dict(input_size=6, kernel_size=2, padding=2),  # padding beyond d(k-1): the spread input is cropped
])
def test_transposed_footprint_is_the_transpose_of_the_forward_matrix(settings):
    s = dict(stride=1, padding=0, dilation=1) | settings
    i, k = s["input_size"], s["kernel_size"]
    size = ops.conv_output_size(i, k, s["stride"], s["padding"], s["dilation"], transposed=True)
    y = ops.conv_transpose2d(np.zeros((1, 1, i, i)), np.zeros((1, 1, k, k)), stride=s["stride"],
                             padding=s["padding"], dilation=s["dilation"])
    assert y.shape[-2:] == (size, size)
    # the transposed convolution is M.T for the forward convolution from size `size` to `i`
    M = ops.conv_matrix((1, size, size), np.ones((1, 1, k, k)), stride=s["stride"], padding=s["padding"],
                        dilation=s["dilation"])
    assert M.shape == (i * i, size * size)
    for step in range(size * size):
        res = viz.conv_arithmetic(**settings, transposed=True, step=step)
        assert res["output_size"] == size
        expected = sorted(divmod(int(q), i) for q in np.flatnonzero(M[:, step]))
        assert res["footprint_inputs"] == expected


def test_transposed_grid_spreads_the_input_by_the_stride():
    res = viz.conv_arithmetic(input_size=3, kernel_size=3, stride=2, transposed=True)
    # 3 cells spread to 5 with one zero between, plus d(k-1) - p = 2 cells of padding per side
    assert list(res["coords"]) == list(range(-2, 7))
    row = res["is_data"][2]
    np.testing.assert_array_equal(row, [0, 0, 1, 0, 1, 0, 1, 0, 0])
    assert res["output_size"] == 7
    assert "= 7$" in res["formula"]


def test_conv_arithmetic_invalid_settings_explain_instead_of_raising():
    with pytest.raises(ValueError) as info:
        ops.conv_output_size(5, 7)
    res = viz.conv_arithmetic(input_size=5, kernel_size=7)
    assert res["error"] == str(info.value)
    assert res["output_size"] is None and res["footprint_inputs"] == []
    fig = viz.plot_conv_arithmetic(input_size=5, kernel_size=7)
    assert "do not work" in _texts(fig)
    assert "larger than the padded input" in _texts(fig).replace("\n", " ")
    res = viz.conv_arithmetic(input_size=2, kernel_size=1, padding=3, transposed=True)
    assert res["error"] is not None and "removes the whole output" in res["error"]
    res = viz.conv_arithmetic(input_size=0)
    assert res["error"] is not None and "`input_size`" in res["error"]
    viz.plot_conv_arithmetic(input_size=0)  # draws the message, does not raise


def test_formula_is_evaluated_on_the_settings():
    res = viz.conv_arithmetic(input_size=5, kernel_size=3, padding=1, stride=2)
    assert r"\frac{5 + 2\cdot1 - 1\cdot(3-1) - 1}{2}" in res["formula"]
    assert res["formula"].endswith("= 3$")
    fig = viz.plot_conv_arithmetic(input_size=5, kernel_size=3, padding=1, stride=2, step=4)
    assert res["formula"] in _texts(fig)


def test_save_conv_arithmetic_gif(tmp_path):
    path = viz.save_conv_arithmetic_gif(tmp_path / "conv.gif", input_size=4, kernel_size=3, padding=1,
                                        stride=2, fps=4)
    with Image.open(path) as gif:
        assert gif.format == "GIF"
        assert gif.n_frames == 4  # one frame per output cell of the 2x2 output
    with pytest.raises(ValueError, match="larger than"):
        viz.save_conv_arithmetic_gif(tmp_path / "bad.gif", input_size=3, kernel_size=5)
    with pytest.raises(ValueError, match="unknown settings"):
        viz.save_conv_arithmetic_gif(tmp_path / "bad.gif", size=3)


# ----------------------------------------------------------------------------- 3. kernels on photos


def test_presets_are_the_lecture_kernels():
    P = viz.KERNEL_PRESETS
    np.testing.assert_allclose(P["sharpen (2 identity - box blur)"], 2 * P["identity"] - P["box blur (moving average)"])
    assert P["high-pass (8 centre, -1 around)"].sum() == 0 and P["high-pass (8 centre, -1 around)"][1, 1] == 8
    np.testing.assert_array_equal(P["Sobel y (vertical gradient)"], P["Sobel x (horizontal gradient)"].T)
    np.testing.assert_array_equal(P["vertical edge detector"], viz.VERTICAL_EDGE)
    assert P["Gaussian blur"].sum() == pytest.approx(1) and P["box blur (moving average)"].sum() == pytest.approx(1)
    assert P["Laplacian"].sum() == 0


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
def test_kernel_result_matches_torch(mode):
    image = data.camera()[100:160, 200:270]
    kernel = viz.KERNEL_PRESETS["Sobel x (horizontal gradient)"]
    res = viz.kernel_result(image, kernel, padding_mode=mode, stride=2)
    x = torch.tensor(image, dtype=torch.float64)[None, None]
    xp = F.pad(x, (1, 1, 1, 1), mode="constant" if mode == "zeros" else mode)
    expected = F.conv2d(xp, torch.tensor(kernel)[None, None], stride=2)[0].numpy()
    np.testing.assert_allclose(res["output"], expected, atol=1e-9)
    assert res["output"].shape == (1, 30, 35)


def test_kernel_result_channels_relu_and_valid():
    image = data.cat()[:40, :50]
    kernel = viz.KERNEL_PRESETS["Laplacian"]
    summed = viz.kernel_result(image, kernel)["output"]
    separate = viz.kernel_result(image, kernel, channels="separate")["output"]
    assert summed.shape == (1, 40, 50) and separate.shape == (3, 40, 50)
    np.testing.assert_allclose(summed[0], separate.sum(axis=0), atol=1e-9)  # linearity
    x = data.to_tensor_layout(image.astype(float))
    for ch in range(3):
        np.testing.assert_allclose(separate[ch], ops.conv2d(x[:, ch : ch + 1], kernel[None, None], padding=1)[0, 0])
    relu = viz.kernel_result(image, kernel, relu=True)
    np.testing.assert_array_equal(relu["output"], np.maximum(summed, 0))
    assert relu["output"].min() == 0 < relu["limit"]
    valid = viz.kernel_result(image, kernel, padding_mode="valid")["output"]
    np.testing.assert_allclose(valid, summed[:, 1:-1, 1:-1], atol=1e-9)
    with pytest.raises(ValueError, match="`padding_mode`"):
        viz.kernel_result(image, kernel, padding_mode="mirror")
    with pytest.raises(ValueError, match="`channels`"):
        viz.kernel_result(image, kernel, channels="rgb")
    with pytest.raises(ValueError, match="`kernel`"):
        viz.kernel_result(image, np.ones(3))


def test_plot_kernel_result_uses_a_scale_centred_on_zero():
    image = data.camera()[:64, :64]
    fig = viz.plot_kernel_result(image, viz.VERTICAL_EDGE)
    res = viz.kernel_result(image, viz.VERTICAL_EDGE)
    out_image = fig.axes[2].images[0]
    assert out_image.get_clim() == (-res["limit"], res["limit"])
    assert res["output"].min() < 0 < res["output"].max()
    np.testing.assert_array_equal(out_image.get_array(), res["output"][0])
    assert len(fig.axes) == 4  # input, kernel, output, colourbar
    fig = viz.plot_kernel_result(data.cat()[:30, :30], viz.VERTICAL_EDGE, channels="separate")
    assert len(fig.axes) == 6


# ----------------------------------------------------------------------------- 4. pooling


def test_pooling_result_matches_ops_and_marks_winners():
    res = viz.pooling_result()
    x = viz.DEFAULT_FEATURE_MAP.astype(float)
    pooled, idx = ops.max_pool2d(x[None], 2, return_indices=True)
    np.testing.assert_array_equal(res["pooled"], pooled[0])
    rows, cols = res["winners"]
    np.testing.assert_array_equal(x[rows, cols], res["pooled"])  # each marked cell holds its window's max
    np.testing.assert_array_equal(rows * 8 + cols, idx[0])
    avg = viz.pooling_result(mode="avg", kernel_size=3, stride=1)
    np.testing.assert_allclose(avg["pooled"], ops.avg_pool2d(x[None], 3, 1)[0])
    assert avg["winners"] is None
    with pytest.raises(ValueError, match="`mode`"):
        viz.pooling_result(mode="min")


def test_shift_shows_equivariance_and_invariance():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(12, 10))
    for shift in [(0, 1), (2, -1), (-2, 2)]:
        res = viz.pooling_result(x, shift=shift, kernel=viz.KERNEL_PRESETS["Sobel x (horizontal gradient)"])
        np.testing.assert_array_equal(res["shifted"], np.roll(x, shift, axis=(0, 1)))
        assert res["equivariance_error"] < 1e-12
        np.testing.assert_allclose(res["conv_shifted"], np.roll(res["conv"], shift, axis=(0, 1)), atol=1e-12)
        np.testing.assert_array_equal(res["pooled_shifted"], ops.max_pool2d(res["shifted"][None], 2)[0])
    res = viz.pooling_result(shift=(0, 1))
    assert res["pooled_unchanged"] == np.mean(res["pooled"] == res["pooled_shifted"]) == 0.6875
    assert res["pooled"].max() == res["pooled_shifted"].max() == 9


def test_plot_pooling_draws_both_rows():
    fig = viz.plot_pooling(shift=(1, 0))
    text = _texts(fig)
    assert "shifted by (1, 0)" in text and "max pool 2, stride 2: 4×4" in text
    marker = fig.axes[0].lines[0]
    assert len(marker.get_xdata()) == 16  # one winner per window
    fig = viz.plot_pooling(data.camera(), shift=(0, 2))
    np.testing.assert_array_equal(fig.axes[1].images[0].get_array(),
                                  ops.max_pool2d(data.camera()[None].astype(float), 2)[0])


# ----------------------------------------------------------------------------- 5. receptive fields


def test_receptive_field_default_is_the_dilated_table():
    res = viz.receptive_field_result()
    assert [f.size for f in res["fields"]] == [3, 5, 9, 17, 33, 65, 67, 67]
    assert res["sizes"] == [75] * 8  # padding keeps the resolution
    assert res["unit"] == (37, 37) and res["rows"] == res["cols"] == (4.0, 70.0)
    res = viz.receptive_field_result([ops.Layer(3)] * 3)
    assert [f.size for f in res["fields"]] == [3, 5, 7]


def _field_by_matrices(layers, n, unit):
    """Input cells that reach `unit` of the last layer, by multiplying 1-D conv matrices of ones."""
    M = np.eye(n)
    size = n
    for L in layers:
        step = ops.conv_matrix((1, size), np.ones((1, 1, L.kernel_size)), stride=L.stride, padding=L.padding,
                               dilation=L.dilation)
        M = step @ M
        size = step.shape[0]
    return np.flatnonzero(M[unit])


@pytest.mark.parametrize("name", list(viz.RECEPTIVE_FIELD_PRESETS))
def test_receptive_field_spans_match_the_composed_convolutions(name):
    layers, n = viz.RECEPTIVE_FIELD_PRESETS[name]
    for unit in (0, 1):
        res = viz.receptive_field_result(layers, input_size=n, unit=(unit, unit))
        assert res["rows"] == ops.receptive_field(layers)[-1].span(unit)
        first, last = res["rows"]
        reached = _field_by_matrices(layers, n, unit)
        # inside the input the field is exactly the cells the unit depends on
        assert reached.min() == max(first, 0) and reached.max() == min(last, n - 1)


def test_receptive_field_checks():
    with pytest.raises(ValueError, match="does not fit"):
        viz.receptive_field_result([ops.Layer(3)] * 3, input_size=4)
    with pytest.raises(ValueError, match="`unit`"):
        viz.receptive_field_result([ops.Layer(3)], input_size=5, unit=(3, 0))
    with pytest.raises(ValueError, match="`layer`"):
        viz.receptive_field_result([ops.Layer(3)], input_size=5, layer=2)


def test_layers_text_round_trip():
    layers, _ = viz.RECEPTIVE_FIELD_PRESETS["dilated context module"]
    assert viz.parse_layers(viz.format_layers(layers)) == layers
    assert viz.parse_layers("conv 3\npool k=2 s=2  # halves\n\n") == [ops.Layer(3), ops.Layer(2, 2, name="pool")]
    with pytest.raises(ValueError, match="line 2: unknown setting 'q'"):
        viz.parse_layers("conv 3\nconv k=3 q=1")
    with pytest.raises(ValueError, match="line 1: .* no kernel size"):
        viz.parse_layers("conv s=2")
    with pytest.raises(ValueError, match="needs a whole number"):
        viz.parse_layers("conv k=1.5")
    with pytest.raises(ValueError, match="no layers"):
        viz.parse_layers("")


def test_plot_receptive_field_table():
    fig = viz.plot_receptive_field([ops.Layer(3), ops.Layer(2, 2, name="pool"), ops.Layer(3)], input_size=12,
                                   layer=1, unit=(1, 2))
    table = fig.axes[1].tables[0]
    cells = table.get_celld()
    assert cells[2, 0].get_text().get_text() == "2 pool"
    assert [cells[r, 6].get_text().get_text() for r in (1, 2, 3)] == ["3", "4", "8"]
    assert [cells[r, 7].get_text().get_text() for r in (1, 2, 3)] == ["1", "2", "2"]
    assert "rows 2..5, cols 4..7" in _texts(fig)


# ----------------------------------------------------------------------------- 6. conv as a matrix


def test_conv_matrix_reproduces_the_deck_matrix():
    res = viz.conv_matrix_result((3, 3), [[1, 2], [2, 1]])
    expected = np.array([
        [1, 2, 0, 2, 1, 0, 0, 0, 0],
        [0, 1, 2, 0, 2, 1, 0, 0, 0],
        [0, 0, 0, 1, 2, 0, 2, 1, 0],
        [0, 0, 0, 0, 1, 2, 0, 2, 1],
    ])
    np.testing.assert_array_equal(res["matrix"], expected)
    x = np.array([[1, 2, 3], [6, 5, 3], [1, 4, 1]])
    np.testing.assert_array_equal(res["matrix"] @ x.ravel(), [22, 21, 22, 20])  # the deck's product
    assert res["conv_params"] == ops.num_parameters(1, 1, (2, 2), bias=False) == 4
    assert res["dense_params"] == ops.num_parameters(9, 4, bias=False) == 36


@pytest.mark.parametrize("stride,padding,dilation", [(1, 0, 1), (2, 1, 1), (1, 2, 2)])
def test_conv_matrix_taps_mark_shared_weights(stride, padding, dilation):
    kernel = np.array([[0.5, -1, 2], [3, 1.5, -2]])
    res = viz.conv_matrix_result((5, 6), kernel, stride=stride, padding=padding, dilation=dilation, bias=True)
    M, tap = res["matrix"], res["tap"]
    for t, w in enumerate(kernel.ravel()):
        assert np.all(M[tap == t + 1] == w)  # every copy of a weight has its colour
    assert np.all(M[tap == 0] == 0)
    x = np.random.default_rng(2).normal(size=(5, 6))
    y = ops.conv2d(x[None, None], kernel[None, None], stride=stride, padding=padding, dilation=dilation)
    np.testing.assert_allclose(M @ x.ravel(), y.ravel())
    assert res["output_shape"] == y.shape[-2:]
    assert res["conv_params"] == 7 and res["dense_params"] == ops.num_parameters(30, y[0, 0].size)


def test_conv_matrix_one_d_default_and_checks():
    res = viz.conv_matrix_result()
    assert res["matrix"].shape == (6, 8)
    np.testing.assert_array_equal(res["matrix"][1, :4], [0, -1, 0, 1])
    assert res["nonzeros"] == 18 and res["conv_params"] == 3 and res["dense_params"] == 48
    with pytest.raises(ValueError, match="`kernel` must have 1"):
        viz.conv_matrix_result(8, [[1, 2]])
    with pytest.raises(ValueError, match="larger than"):
        viz.conv_matrix_result(2, [1, 2, 3])
    fig = viz.plot_conv_matrix((3, 3), [[1, 2], [2, 1]])
    assert "convolution: 4" in _texts(fig) and "dense layer 9 → 4: 36" in _texts(fig)


# ----------------------------------------------------------------------------- 7. feature maps


def _model():
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(inplace=True), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(4, 6, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(6 * 6 * 6, 3),
    ).double()


def test_feature_maps_match_the_model_layers():
    model = _model().train()
    image = np.random.default_rng(3).normal(size=(16, 16))
    rec = viz.feature_maps(model, image)
    assert list(rec["maps"]) == ["0 (Conv2d)", "1 (ReLU)", "2 (MaxPool2d)", "3 (Conv2d)", "4 (ReLU)"]
    x = torch.tensor(image)[None, None]
    with torch.no_grad():
        conv = model[0](x)
        np.testing.assert_allclose(rec["maps"]["0 (Conv2d)"], conv[0].numpy())
        assert rec["maps"]["0 (Conv2d)"].min() < 0  # recorded before the in-place ReLU
        np.testing.assert_allclose(rec["maps"]["2 (MaxPool2d)"], model[:3](x)[0].numpy())
        np.testing.assert_allclose(rec["maps"]["4 (ReLU)"], model[:5](x)[0].numpy())
    np.testing.assert_array_equal(rec["filters"], model[0].weight.detach().numpy())
    assert rec["error"] is None and model.training  # mode restored


def test_feature_maps_keep_what_ran_before_a_failing_layer():
    rec = viz.feature_maps(_model(), np.zeros((3, 20, 20), dtype=np.uint8)[:1])
    assert rec["error"] is not None and "RuntimeError" in rec["error"]
    assert list(rec["maps"])[-1] == "4 (ReLU)"
    with pytest.raises(TypeError, match="`model`"):
        viz.feature_maps("model", np.zeros((4, 4)))
    with pytest.raises(ValueError, match="`image`"):
        viz.feature_maps(_model(), np.zeros(4))


def test_plot_feature_maps_picks_the_layer():
    model = _model()
    image = data.camera()[::16, ::16]
    fig = viz.plot_feature_maps(model, image, layer="3")
    rec = viz.feature_maps(model, image)
    assert "3 (Conv2d): 6 feature maps of 14×14" in _texts(fig)
    assert "map 5" in _texts(fig) and "map 6" not in _texts(fig)
    view = viz.FeatureMapView()
    view.update(model, image, layer="3")
    mosaic = np.ma.filled(view.im_m.get_array(), np.nan)
    assert len(view.map_tiles) == 6
    for i, tile in enumerate(view.map_tiles):  # each map sits in its tile of the mosaic
        np.testing.assert_array_equal(mosaic[tile], rec["maps"]["3 (Conv2d)"][i])
    free = np.ones(mosaic.shape, bool)
    for tile in view.map_tiles:
        free[tile] = False
    assert np.isnan(mosaic[free]).all()  # and nothing else is drawn there
    with pytest.raises(ValueError, match="`layer`"):
        viz.plot_feature_maps(model, image, layer="9")


def test_render_figure_formats():
    fig = viz.plot_conv_step(viz.DECK_INPUT, viz.VERTICAL_EDGE, 0)
    assert viz.render_figure(fig).startswith(b"\x89PNG")
    assert viz.render_figure(fig, "jpeg").startswith(b"\xff\xd8")
    with pytest.raises(ValueError, match="`format`"):
        viz.render_figure(fig, "gif")


def test_every_setting_combination_of_the_arithmetic_draws():
    # the explorer's whole slider range: never an exception, always a size or an explanation
    for i, k, p, s, d, t in itertools.product((1, 3, 5), (1, 3, 5), (0, 2), (1, 3), (1, 2), (False, True)):
        res = viz.conv_arithmetic(i, k, p, s, d, t)
        assert (res["output_size"] is None) == (res["error"] is not None)


def test_labels_draw_each_string_in_its_cell():
    """Grid numbers are one path collection (fast to redraw): the ink must land where asked."""
    fig = viz._new_figure(2, 1)  # 200 x 100 pixels
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(-0.5, 1.5)
    ax.set_ylim(0.5, -0.5)
    ax.axis("off")
    labels = viz._Labels(ax, fontsize=20)
    labels.set_labels([(0, 0)], ["8"])
    fig.canvas.draw()
    ink = np.asarray(fig.canvas.buffer_rgba())[..., 0] < 128
    assert labels.strings == ["8"]
    assert ink[:, :100].sum() > 30  # the "8" sits in the left cell, around pixel (50, 50)
    assert not ink[:, 100:].any()
    rows, cols = np.nonzero(ink)
    assert abs(cols.mean() - 50) < 4 and abs(rows.mean() - 50) < 4
    labels.set_labels([(1, 0)], ["8"])  # moved to the right cell
    fig.canvas.draw()
    ink = np.asarray(fig.canvas.buffer_rgba())[..., 0] < 128
    assert not ink[:, :100].any() and ink[:, 100:].sum() > 30


def test_feature_maps_keep_their_resolution_from_redraw_to_redraw():
    """Large maps are thinned to their tile's size on screen, measured on the layout's box
    (not on the box that the last draw shrank to the aspect, which would shrink them again)."""
    model = _model()
    view = viz.FeatureMapView()
    view.update(model, data.camera(), layer=0)
    first = view.im_m.get_array().shape
    for _ in range(3):
        viz.render_figure(view.figure, "jpeg")
        view.update(model, data.camera(), layer=0)
    assert view.im_m.get_array().shape == first
    tile = view.map_tiles[0]
    assert tile[1].stop - tile[1].start >= 100  # a 512-pixel map keeps about a tile's width


def test_text_cache_draws_what_matplotlib_draws():
    """The explorers' canvas rasterizes each line of text once and reuses it: the pixels must
    be Matplotlib's (to within sub-pixel placement), and lines that differ only in colour or
    size must not be mixed up."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    def render(canvas_class, draws=1):
        fig = Figure(figsize=(3, 1), dpi=100)
        canvas_class(fig)
        fig.text(0.1, 0.6, "conv 3×3 → 55", fontsize=12, color="red")
        fig.text(0.1, 0.2, "conv 3×3 → 55", fontsize=8)
        for _ in range(draws):  # the second draw comes from the cache
            fig.canvas.draw()
        return np.asarray(fig.canvas.buffer_rgba()).astype(int)

    ours, agg = render(viz._Canvas, draws=2), render(FigureCanvasAgg)
    assert np.abs(ours - agg).mean() < 1.0
    red = (ours[..., 0] > 150) & (ours[..., 1] < 100)
    dark = ours[..., :3].sum(axis=-1) < 200
    assert red[:50].sum() > 50 and not red[50:].any()  # the large red line, in the top half
    assert dark[50:].sum() > 20 and not dark[:50].any()  # the small black one, below
