"""Tests of course.explorers.feature_maps: recorded maps against the model's layers, the mosaic, the widget."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from course import data
from course.explorers.feature_maps import (
    FeatureMapView,
    feature_map_result,
    feature_map_viewer,
    feature_maps,
    plot_feature_maps,
)
from course.explorers.render import render_figure
from explorer_helpers import changes_image, texts


def _model():
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(inplace=True), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(4, 6, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(6 * 6 * 6, 3),
    ).double()


def test_feature_maps_match_the_model_layers():
    model = _model().train()
    image = np.random.default_rng(3).normal(size=(16, 16))
    rec = feature_maps(model, image)
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
    rec = feature_maps(_model(), np.zeros((3, 20, 20), dtype=np.uint8)[:1])
    assert rec["error"] is not None and "RuntimeError" in rec["error"]
    assert list(rec["maps"])[-1] == "4 (ReLU)"
    with pytest.raises(TypeError, match="`model`"):
        feature_maps("model", np.zeros((4, 4)))
    with pytest.raises(ValueError, match="`image`"):
        feature_maps(_model(), np.zeros(4))


def test_plot_feature_maps_picks_the_layer():
    model = _model()
    image = data.camera()[::16, ::16]
    fig = plot_feature_maps(model, image, layer="3")
    rec = feature_maps(model, image)
    assert "3 (Conv2d): 6 feature maps of 14×14" in texts(fig)
    assert "map 5" in texts(fig) and "map 6" not in texts(fig)
    view = FeatureMapView()
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
        plot_feature_maps(model, image, layer="9")


def test_feature_maps_keep_their_resolution_from_redraw_to_redraw():
    """Large maps are thinned to their tile's size on screen, measured on the layout's box
    (not on the box that the last draw shrank to the aspect, which would shrink them again)."""
    model = _model()
    view = FeatureMapView()
    view.update(model, data.camera(), layer=0)
    first = view.im_m.get_array().shape
    for _ in range(3):
        render_figure(view.figure, "jpeg")
        view.update(model, data.camera(), layer=0)
    assert view.im_m.get_array().shape == first
    tile = view.map_tiles[0]
    assert tile[1].stop - tile[1].start >= 100  # a 512-pixel map keeps about a tile's width


# ----------------------------------------------------------------------------- the widget


def test_feature_map_viewer():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 20, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2))
    image = data.camera()[::8, ::8]
    w = feature_map_viewer(model, image)
    c = w.controls
    assert list(c["layer"].options) == ["0 (Conv2d)", "1 (ReLU)", "2 (MaxPool2d)"]
    x = torch.tensor(image / 255.0, dtype=torch.float32)[None, None]
    with torch.no_grad():
        np.testing.assert_allclose(w.result["maps"], model[0](x)[0].numpy(), rtol=1e-6)
        assert len(w.result["shown"]) == 16 and c["start"].max == 16
        assert changes_image(w, "layer", "2 (MaxPool2d)")
        np.testing.assert_allclose(w.result["maps"], model(x)[0].numpy(), rtol=1e-6)
    c["start"].value = 16
    np.testing.assert_array_equal(w.result["shown"], w.result["maps"][16:])
    with pytest.raises(ValueError, match="no Conv2d"):
        feature_map_viewer(torch.nn.Sequential(torch.nn.Flatten()), image)


def test_feature_map_result_finds_a_layer_by_label_name_or_index():
    model = _model()
    image = np.random.default_rng(4).normal(size=(16, 16))
    rec = feature_maps(model, image)
    for layer in ("3 (Conv2d)", "3", 3, -2):
        res = feature_map_result(model, image, layer, recorded=rec)
        assert res["layer"] == "3 (Conv2d)" and res["maps"] is rec["maps"]["3 (Conv2d)"]
    assert feature_map_result(model, image)["layer"] == "0 (Conv2d)"
    res = feature_map_result(model, image, "0", start=3, recorded=rec)
    np.testing.assert_array_equal(res["shown"], rec["maps"]["0 (Conv2d)"][3:])
    assert feature_map_result(model, image, "0", start=99, recorded=rec)["start"] == 3  # clipped
    assert res["forward_error"] is None and res["labels"] == list(rec["maps"]) and res["recorded"] is rec
    with pytest.raises(ValueError, match=r"`layer` must be in \[-5, 4\], got 5"):
        feature_map_result(model, image, 5, recorded=rec)
    with pytest.raises(ValueError, match="`layer` 'fc' is not one of"):
        feature_map_result(model, image, "fc", recorded=rec)
    with pytest.raises(TypeError, match="`start` must be an int"):
        feature_map_result(model, image, start=1.5, recorded=rec)
    with pytest.raises(ValueError, match="no Conv2d"):
        feature_map_result(torch.nn.Flatten(), image)


def test_the_view_runs_the_model_once_per_model_and_image():
    model = _model()
    calls = []
    model[0].register_forward_hook(lambda *args: calls.append(1))
    image = np.zeros((16, 16))
    view = FeatureMapView()
    for layer in ("0", "2", "4", "0"):
        view.update(model, image, layer)
    assert len(calls) == 1
    view.update(model, image.copy(), "0")  # another image: the model runs again
    assert len(calls) == 2


def test_the_viewer_shows_the_filters_of_the_model_it_is_given():
    """A trained model's own first-layer weights are drawn, each filter on its own -1..1 scale."""
    model = _model()
    with torch.no_grad():
        model[0].weight.copy_(torch.arange(4 * 9, dtype=torch.float64).reshape(4, 1, 3, 3) - 10)
    w = feature_map_viewer(model, np.zeros((16, 16)))
    weights = model[0].weight.detach().numpy()
    np.testing.assert_array_equal(w.result["filters"], weights)
    mosaic = np.ma.filled(w.view.im_f.get_array(), np.nan)
    assert len(w.view.filter_tiles) == 4
    for tile, weight in zip(w.view.filter_tiles, weights[:, 0]):
        np.testing.assert_allclose(mosaic[tile], weight / np.abs(weight).max())
