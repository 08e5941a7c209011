"""The judge's wire format (course/grading/harness/wire.py): plain data in, plain data out."""
from __future__ import annotations

import io
import math
import struct

import numpy as np
import pytest
import torch

from course.grading.harness import wire


def _trip(value):
    return wire.loads(wire.dumps(value))


def test_plain_values_round_trip_with_their_types():
    value = {"a": [1, 2.5, None, True, "s"], 3: (1, (2, 3)), (1, 2): -7,
             "big": 1 << 100, "nan": float("nan"), "inf": -math.inf}
    out = _trip(value)
    assert out["a"] == [1, 2.5, None, True, "s"] and type(out["a"][3]) is bool
    assert out[3] == (1, (2, 3)) and type(out[3]) is tuple
    assert out[(1, 2)] == -7 and out["big"] == 1 << 100
    assert math.isnan(out["nan"]) and out["inf"] == -math.inf


def test_arrays_and_numpy_scalars_keep_dtype_and_shape():
    arrays = [np.arange(12, dtype=np.int16).reshape(3, 4), np.zeros((2, 0)),
              np.array(3.5), np.arange(6.0).reshape(2, 3).T, np.array([True, False])]
    for original, back in zip(arrays, _trip(arrays)):
        assert back.dtype == original.dtype and back.shape == original.shape
        np.testing.assert_array_equal(back, original)
    scalars = _trip([np.int64(4), np.float32(2.5), np.bool_(True)])
    assert [type(s) for s in scalars] == [np.int64, np.float32, np.bool_]


def test_subclasses_arrive_as_plain_data():
    class Liar(np.ndarray):
        def __eq__(self, other):
            return np.ones(np.shape(other), dtype=bool)

    class Anything(float):
        def __eq__(self, other):
            return True

    class Whatever(int):
        def __eq__(self, other):
            return True

    out = _trip([np.zeros(3).view(Liar), Anything(1.5), Whatever(7), np.float64(2.0)])
    assert type(out[0]) is np.ndarray and not (out[0] == np.ones(3)).all()
    assert type(out[1]) is float and out[1] == 1.5 and out[1] != 2.0
    assert type(out[2]) is int and out[2] == 7 and out[2] != 8


def test_objects_that_are_not_data_become_unsupported_markers():
    class Thing:
        pass

    out = _trip({"thing": Thing(), "fn": len, "set": {1, 2}})
    assert all(isinstance(v, wire.Unsupported) for v in out.values())
    assert out["thing"].type_name.endswith("Thing") and out["set"].type_name == "set"
    with pytest.raises(wire.WireError, match="Python objects"):
        wire.dumps(np.array([Thing()], dtype=object))


def test_tensors_and_modules_become_arrays():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    model.eval()
    out = _trip({"t": torch.ones(2, 3, requires_grad=True), "m": model})
    assert isinstance(out["t"], wire.Tensor) and out["t"].shape == (2, 3)
    assert out["t"].requires_grad and out["t"].device == "cpu"
    module = out["m"]
    assert isinstance(module, wire.Module) and module.class_name == "Sequential"
    assert module.training is False
    assert [name for name, _ in module.state] == list(model.state_dict())
    assert module.parameters == ["0.weight", "0.bias", "1.weight", "1.bias"]
    np.testing.assert_array_equal(module.state[0][1], model[0].weight.detach().numpy())
    assert "torch.nn.modules.linear.Linear" in module.classes


def test_functions_are_names_with_plain_arguments():
    out = _trip(wire.Function("constant", {"value": [np.ones(2)]}))
    assert isinstance(out, wire.Function) and out.name == "constant"
    np.testing.assert_array_equal(out.arguments["value"][0], np.ones(2))


@pytest.mark.parametrize("data, message", [
    (b"", "truncated"),
    (struct.pack(">QQ", 10, 0) + b"{}", "truncated"),
    (struct.pack(">QQ", 2, 0) + b"{}", "unexpected element"),
    (struct.pack(">QQ", 7, 0) + b"not json", "not JSON"),
    (struct.pack(">QQ", 12, 0) + b'{"$array":0}', "not there"),
    (struct.pack(">QQ", 12, 1) + b'{"$array":0}' + struct.pack(">Q", 3) + b"abc", "could not be read"),
    (struct.pack(">QQ", 14, 0) + b'{"$nothing":1}', "unknown element"),
])
def test_malformed_messages_are_refused(data, message):
    with pytest.raises(wire.WireError, match=message):
        wire.loads(data)


def test_a_pickled_array_is_refused():
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"x": 1}], dtype=object), allow_pickle=True)
    header = b'{"$array":0}'
    data = struct.pack(">QQ", len(header), 1) + header + struct.pack(">Q", len(buffer.getvalue())) \
        + buffer.getvalue()
    with pytest.raises(wire.WireError, match="could not be read"):
        wire.loads(data)


def test_nesting_and_size_limits():
    deep = []
    for _ in range(wire.MAX_DEPTH + 2):
        deep = [deep]
    with pytest.raises(wire.WireError, match="nested too deeply"):
        wire.dumps(deep)
    stream = io.BytesIO()
    wire.write_message(stream, np.zeros(1000))
    data = stream.getvalue()
    reader = io.BytesIO(data)
    with pytest.raises(wire.WireError, match="over the limit"):
        wire.read_message(reader.read, max_bytes=100)
    assert wire.read_message(io.BytesIO(data).read).shape == (1000,)


# --- limits checked before anything is allocated ---------------------------------------------
def test_a_header_of_too_many_elements_is_refused_before_it_is_parsed():
    header = b"[" + b"[]," * 300_000 + b"[]]"
    with pytest.raises(wire.WireError, match="elements is over the limit"):
        wire.decode(header, [])


def test_commas_and_brackets_inside_strings_are_not_elements():
    text = "a, [b], {c}" * 100_000
    assert wire.loads(wire.dumps([text])) == [text]


def test_a_header_over_its_byte_limit_is_refused():
    data = wire.dumps(["x" * 5000])
    with pytest.raises(wire.WireError, match="header of .* bytes is over the limit"):
        wire.loads(data, max_header=1000)


def test_deep_nesting_is_a_wire_error_not_a_crash():
    with pytest.raises(wire.WireError):
        wire.decode(b"[" * 100_000 + b"]" * 100_000, [])


def test_an_array_header_that_promises_more_than_its_bytes_is_refused():
    buffer = io.BytesIO()
    np.save(buffer, np.zeros(3))
    blob = buffer.getvalue().replace(b"(3,)", b"(300000000000,)")
    with pytest.raises(wire.WireError, match="promises more data"):
        wire.decode(b'{"$array":0}', [blob])


def test_a_frame_longer_than_the_limit_is_refused_after_its_length():
    frames = io.BytesIO(struct.pack(">Q", 10**9))
    with pytest.raises(wire.WireError, match="over the limit"):
        wire.read_message(frames.read, max_bytes=1 << 20)
    assert frames.tell() == 8  # nothing read beyond the length
