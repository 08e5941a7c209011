"""The wire format between the judge and the code it judges: plain data only.

Everything that crosses a process boundary during grading (the arguments the judge
passes to a student's function, the value it returns, the variables a notebook
exports) is encoded here as a JSON header plus raw ``.npy`` blobs:

* ``None``, ``bool``, ``int``, ``float`` (``nan`` and ``inf`` too), ``str`` as JSON;
* ``list``, ``tuple`` and ``dict`` (keys of any encodable kind), nested;
* NumPy arrays and scalars as ``.npy`` bytes (``numpy.save`` and ``numpy.load`` with
  ``allow_pickle=False``: object arrays are refused);
* PyTorch tensors as arrays with their device, and ``nn.Module`` objects as their
  ``state_dict`` (names, arrays, which entries are parameters) and training mode;
* callables the judge hands to student code as a name from :mod:`catalogue` plus
  plain arguments (``Function``), never as code.

Nothing with methods of its own crosses: an ndarray subclass arrives as a plain
ndarray, a float subclass as a float, and any other object as :class:`Unsupported`
(its type's name and a short repr), so the receiving side only ever holds data it
created itself. Decoding enforces limits before it allocates: the frame's size, the
header's size and element count (counted before JSON parses it), the number of blobs,
nesting depth, and every array's size against the bytes it came in.

This module has no dependency on the rest of the course: the judged process loads
it on its own, next to :mod:`judged` and :mod:`catalogue`.
"""
from __future__ import annotations

import io
import json
import math
import re
import struct
import sys
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Function", "Module", "Tensor", "Unsupported", "WireError", "decode", "encode",
           "read_message", "write_message", "MAX_BYTES"]

MAX_BYTES = 256 * 1024 * 1024
"""The largest message accepted (header and blobs together)."""
MAX_HEADER = 16 * 1024 * 1024
"""The largest JSON header accepted: it is checked before it is parsed."""
MAX_ITEMS = 200_000
"""The most JSON containers and elements a header may hold (counted before parsing)."""
MAX_BLOBS = 10_000
MAX_DEPTH = 64
_HEADER = struct.Struct(">QQ")  # header length, number of blobs


class WireError(ValueError):
    """A message that is not plain data of the accepted kinds, or over a limit."""


@dataclass(frozen=True)
class Unsupported:
    """Stands for an object that is not plain data (the receiver gets only its name)."""

    type_name: str
    text: str = ""

    def __repr__(self) -> str:
        return f"<{self.type_name} object>" if not self.text else self.text


@dataclass
class Tensor:
    """A PyTorch tensor as data: its values and where it lived."""

    array: np.ndarray
    device: str = "cpu"
    requires_grad: bool = False

    @property
    def shape(self) -> tuple:
        return tuple(self.array.shape)


@dataclass
class Module:
    """An ``nn.Module`` as data: class name, training mode, ``state_dict`` entries."""

    class_name: str
    training: bool
    state: list = field(default_factory=list)  # [(name, ndarray)], in state_dict order
    parameters: list = field(default_factory=list)  # names of the entries that are parameters
    device: str = "cpu"
    classes: list = field(default_factory=list)  # "module.Class" of every class in its tree


@dataclass
class Function:
    """A callable for student code, named from the catalogue: ``Function("squares")``."""

    name: str
    arguments: dict = field(default_factory=dict)


# --------------------------------------------------------------------------------------
# Encoding
class _Encoder:
    def __init__(self):
        self.blobs: list[bytes] = []

    def blob(self, array: np.ndarray) -> int:
        if array.dtype.hasobject:
            raise WireError("arrays of Python objects cannot be sent")
        buffer = io.BytesIO()
        np.save(buffer, np.asarray(array, order="C").view(np.ndarray), allow_pickle=False)
        self.blobs.append(buffer.getvalue())
        return len(self.blobs) - 1

    def __call__(self, value, depth: int = 0):
        if depth > MAX_DEPTH:
            raise WireError("the value is nested too deeply")
        kind = type(value)
        if value is None or kind in (bool, str):
            return value
        if kind is int:
            return value if -(1 << 63) <= value < (1 << 63) else {"$bigint": str(value)}
        if kind is float:
            return _float(value)
        if isinstance(value, np.ndarray):
            return {"$array": self.blob(np.asarray(value))}
        if isinstance(value, np.generic):
            return {"$scalar": self.blob(np.asarray(value))}
        if isinstance(value, bool):  # a bool subclass
            return bool(value)
        if isinstance(value, int):
            return self(int.__index__(value), depth)
        if isinstance(value, float):
            return _float(float.__float__(value))
        if isinstance(value, str):
            return str.__str__(value)
        if isinstance(value, (list, tuple)):
            items = [self(v, depth + 1) for v in list.__iter__(value)] if isinstance(value, list) \
                else [self(v, depth + 1) for v in tuple.__iter__(value)]
            return items if isinstance(value, list) else {"$tuple": items}
        if isinstance(value, dict):
            return {"$dict": [[self(k, depth + 1), self(v, depth + 1)]
                              for k, v in dict.items(value)]}
        if isinstance(value, Function):
            return {"$function": value.name, "arguments": self(value.arguments, depth + 1)}
        if isinstance(value, Tensor):
            return {"$tensor": self.blob(value.array), "device": value.device,
                    "requires_grad": bool(value.requires_grad)}
        if isinstance(value, Module):
            return self._module(value.class_name, value.training, value.state,
                                value.parameters, value.device, depth, value.classes)
        torch_value = _torch_encode(self, value, depth)
        if torch_value is not None:
            return torch_value
        return {"$unsupported": _type_name(value), "text": _short_repr(value)}

    def _module(self, class_name, training, state, parameters, device, depth, classes=()):
        return {"$module": str(class_name), "training": bool(training), "device": str(device),
                "state": [[str(name), self(array, depth + 1)] for name, array in state],
                "parameters": [str(name) for name in parameters],
                "classes": [str(name) for name in classes]}


def _float(value: float):
    if math.isfinite(value):
        return value
    return {"$float": "nan" if value != value else ("inf" if value > 0 else "-inf")}


def _type_name(value) -> str:
    kind = type(value)
    module = getattr(kind, "__module__", "") or ""
    name = getattr(kind, "__qualname__", "object")
    return name if module in ("builtins", "__main__", "") else f"{module}.{name}"


def _short_repr(value, limit: int = 200) -> str:
    try:
        text = object.__repr__(value)
    except Exception:  # noqa: BLE001 - a repr is only a courtesy
        text = ""
    return text[:limit]


def _torch_encode(encoder: _Encoder, value, depth: int):
    """Tensors and modules (also of classes defined in a notebook); torch only if loaded."""
    torch = sys.modules.get("torch")
    if torch is None or not hasattr(torch, "nn"):
        return None

    if isinstance(value, torch.Tensor):
        array = value.detach().cpu()
        if array.dtype in (torch.bfloat16, torch.float16):
            array = array.float()
        return {"$tensor": encoder.blob(array.numpy()), "device": str(value.device),
                "requires_grad": bool(value.requires_grad)}
    if isinstance(value, torch.nn.Module):
        fields = _module_fields(value)
        return encoder._module(*fields[:5], depth, fields[5])
    if isinstance(value, torch.device):
        return {"$device": str(value)}
    if isinstance(value, torch.Size):
        return {"$tuple": [int(v) for v in value]}
    return None


def _module_fields(module):
    import torch

    names = {name for name, _ in module.named_parameters()}
    state = []
    for name, tensor in module.state_dict().items():
        if isinstance(tensor, torch.Tensor):
            array = tensor.detach().cpu()
            if array.dtype in (torch.bfloat16, torch.float16):
                array = array.float()
            state.append((name, array.numpy()))
    device = "cpu"
    for p in module.parameters():
        device = str(p.device)
        break
    classes = []
    for sub in module.modules():
        for cls in type(sub).__mro__:
            name = f"{cls.__module__}.{cls.__qualname__}"
            if name not in classes:
                classes.append(name)
    return (type(module).__qualname__, module.training, state, [n for n, _ in state if n in names],
            device, classes)


def module_data(module) -> Module:
    """:class:`Module` data of an ``nn.Module`` (its state_dict as arrays)."""
    return Module(*_module_fields(module))


def encode(value) -> tuple[bytes, list[bytes]]:
    """The JSON header and the blobs of ``value``."""
    encoder = _Encoder()
    tree = encoder(value)
    header = json.dumps(tree, allow_nan=False, separators=(",", ":")).encode()
    return header, encoder.blobs


def dumps(value) -> bytes:
    """``value`` as one self-delimited message (see :func:`loads`)."""
    header, blobs = encode(value)
    parts = [_HEADER.pack(len(header), len(blobs)), header]
    for blob in blobs:
        parts += [struct.pack(">Q", len(blob)), blob]
    return b"".join(parts)


# --------------------------------------------------------------------------------------
# Decoding
class _Decoder:
    def __init__(self, blobs: list[bytes]):
        self.blobs = blobs

    def array(self, index) -> np.ndarray:
        if type(index) is not int or not 0 <= index < len(self.blobs):
            raise WireError("an array refers to a blob that is not there")
        blob = self.blobs[index]
        _check_npy(blob)
        try:
            array = np.load(io.BytesIO(blob), allow_pickle=False)
        except Exception as error:  # noqa: BLE001 - any malformed blob is a wire error
            raise WireError(f"an array could not be read: {error}") from None
        if not isinstance(array, np.ndarray):
            raise WireError("a blob holds no array")
        return array

    def __call__(self, tree, depth: int = 0):
        if depth > MAX_DEPTH:
            raise WireError("the message is nested too deeply")
        if tree is None or type(tree) in (bool, int, float, str):
            return tree
        if type(tree) is list:
            return [self(v, depth + 1) for v in tree]
        if type(tree) is not dict or len(tree) == 0:
            raise WireError(f"unexpected element {type(tree).__name__}")
        if "$array" in tree:
            return self.array(tree["$array"])
        if "$scalar" in tree:
            return self.array(tree["$scalar"])[()]
        if "$tuple" in tree:
            return tuple(self(v, depth + 1) for v in _list(tree["$tuple"]))
        if "$dict" in tree:
            out = {}
            for pair in _list(tree["$dict"]):
                if type(pair) is not list or len(pair) != 2:
                    raise WireError("a dict entry is not a pair")
                key = self(pair[0], depth + 1)
                try:
                    out[key] = self(pair[1], depth + 1)
                except TypeError:
                    raise WireError("a dict key is not hashable") from None
            return out
        if "$float" in tree:
            text = tree["$float"]
            if text not in ("nan", "inf", "-inf"):
                raise WireError("unknown float")
            return float(text)
        if "$bigint" in tree:
            return int(str(tree["$bigint"])[:4000])
        if "$tensor" in tree:
            return Tensor(self.array(tree["$tensor"]), str(tree.get("device", "cpu")),
                          bool(tree.get("requires_grad", False)))
        if "$module" in tree:
            state = []
            for pair in _list(tree.get("state", [])):
                if type(pair) is not list or len(pair) != 2 or type(pair[0]) is not str:
                    raise WireError("a module's state entry is not (name, array)")
                value = self(pair[1], depth + 1)
                if not isinstance(value, np.ndarray):
                    raise WireError("a module's state holds something other than arrays")
                state.append((pair[0], value))
            parameters = [str(n) for n in _list(tree.get("parameters", []))]
            classes = [str(n) for n in _list(tree.get("classes", []))]
            return Module(str(tree["$module"]), bool(tree.get("training")), state, parameters,
                          str(tree.get("device", "cpu")), classes)
        if "$function" in tree:
            arguments = self(tree.get("arguments", {"$dict": []}), depth + 1)
            if type(arguments) is not dict:
                raise WireError("a function's arguments are not a dict")
            return Function(str(tree["$function"]), arguments)
        if "$device" in tree:
            return Unsupported("torch.device", str(tree["$device"]))
        if "$unsupported" in tree:
            return Unsupported(str(tree["$unsupported"])[:200], str(tree.get("text", ""))[:200])
        raise WireError(f"unknown element {sorted(tree)[:1]}")


def _list(value) -> list:
    if type(value) is not list:
        raise WireError("expected a list")
    return value


def _check_npy(blob: bytes) -> None:
    """Refuse an ``.npy`` blob whose header promises more data than the blob holds.

    ``numpy.load`` allocates the array its header describes before it reads the data,
    so a 100-byte blob could otherwise ask for terabytes.
    """
    stream = io.BytesIO(blob)
    try:
        version = np.lib.format.read_magic(stream)
        read = {(1, 0): np.lib.format.read_array_header_1_0,
                (2, 0): np.lib.format.read_array_header_2_0}.get(version)
        if read is None:
            raise ValueError(f"version {version} of the .npy format is not accepted")
        shape, _, dtype = read(stream)
    except Exception as error:  # noqa: BLE001 - any malformed header is a wire error
        raise WireError(f"an array could not be read: {error}") from None
    count = 1
    for n in shape:
        count *= int(n)
    if count * dtype.itemsize > len(blob) - stream.tell():
        raise WireError("an array's header promises more data than it holds")


_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"')


def check_header(header: bytes, max_header: int = MAX_HEADER, max_items: int = MAX_ITEMS) -> None:
    """Refuse a JSON header over ``max_header`` bytes or ``max_items`` elements, unparsed.

    Parsing is where memory goes (a 16 MB header of empty lists is millions of
    Python objects), so the elements are counted first: every comma and every opening
    bracket outside strings.
    """
    if len(header) > max_header:
        raise WireError(f"a header of {len(header)} bytes is over the limit of {max_header}")
    bare = _STRING.sub(b"", header)
    items = bare.count(b",") + bare.count(b"[") + bare.count(b"{")
    if items > max_items:
        raise WireError(f"a header of {items} elements is over the limit of {max_items}")


def decode(header: bytes, blobs: list[bytes], max_header: int = MAX_HEADER):
    """The value that :func:`encode` turned into ``header`` and ``blobs``."""
    check_header(header, max_header)
    try:
        tree = json.loads(header)
    except (ValueError, UnicodeDecodeError, RecursionError) as error:
        raise WireError(f"the header is not JSON: {str(error)[:200]}") from None
    try:
        return _Decoder(blobs)(tree)
    except WireError:
        raise
    except (RecursionError, MemoryError) as error:
        raise WireError(f"the message could not be decoded ({type(error).__name__})") from None
    except Exception as error:  # noqa: BLE001 - whatever the bytes were, they are not data
        raise WireError(f"the message could not be decoded ({type(error).__name__}: "
                        f"{str(error)[:200]})") from None


def loads(data: bytes, max_bytes: int = MAX_BYTES, max_header: int = MAX_HEADER):
    """The value of a message made by :func:`dumps`."""
    view = memoryview(data)
    if len(view) < _HEADER.size:
        raise WireError("the message is truncated")
    size, count = _HEADER.unpack(view[:_HEADER.size])
    if size + _HEADER.size > len(view) or size > max_bytes or count > MAX_BLOBS:
        raise WireError("the message is truncated or too large")
    at = _HEADER.size + size
    header = bytes(view[_HEADER.size:at])
    blobs = []
    for _ in range(count):
        if at + 8 > len(view):
            raise WireError("the message is truncated")
        (length,) = struct.unpack(">Q", view[at:at + 8])
        at += 8
        if at + length > len(view):
            raise WireError("the message is truncated")
        blobs.append(bytes(view[at:at + length]))
        at += length
    return decode(header, blobs, max_header)


# --------------------------------------------------------------------------------------
# Framing on a byte stream (a pipe): an 8-byte length, then a message of dumps().
def write_message(stream, value) -> None:
    """Write ``value`` to a binary stream as one length-prefixed message."""
    data = dumps(value)
    stream.write(struct.pack(">Q", len(data)) + data)
    stream.flush()


def read_message(read_exactly, max_bytes: int = MAX_BYTES, max_header: int = MAX_HEADER):
    """Read one message with ``read_exactly(n) -> bytes`` (which raises on EOF or time-out).

    Nothing is read beyond the 8-byte length of a frame over ``max_bytes``, and no
    header over ``max_header`` bytes or :data:`MAX_ITEMS` elements is parsed.
    """
    (length,) = struct.unpack(">Q", read_exactly(8))
    if length > max_bytes:
        raise WireError(f"a message of {length} bytes is over the limit of {max_bytes}")
    return loads(read_exactly(length), max_bytes, max_header)


def save_values(values: dict, path: str) -> None:
    """Write a notebook's variables to ``path`` as one message (run in the student's kernel).

    The executor calls this in the kernel when it reaches a test cell that judges what
    the notebook computed; tensors and modules become arrays here, in the kernel.
    """
    data = dumps(values)
    with open(path, "wb") as f:
        f.write(data)
