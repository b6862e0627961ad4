"""Reads and writes the safetensors format by hand (no `safetensors` package needed).

Layout: an 8-byte little-endian unsigned header length N, then N bytes of UTF-8 JSON, then the
tensors' raw little-endian bytes. The JSON maps each tensor name to
{"dtype": "F32", "shape": [...], "data_offsets": [begin, end]} with offsets relative to the first
data byte, plus an optional "__metadata__" object whose values are all strings.

Tensors come back as torch tensors (BF16 is widened to float32 on read because NumPy has no
bfloat16; U16 is widened to int32 because torch 1.13 has no uint16).
"""

from __future__ import annotations

import json
import os
import struct
import tempfile
from typing import Dict, Mapping, Optional, Tuple

import numpy as np
import torch

# safetensors dtype name -> NumPy little-endian dtype used for the raw bytes.
_NUMPY_DTYPES = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "BF16": np.dtype("<u2"),  # raw bit patterns, widened to float32 below
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U16": np.dtype("<u2"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}

_TORCH_TO_SAFETENSORS = {
    torch.float64: "F64",
    torch.float32: "F32",
    torch.float16: "F16",
    torch.bfloat16: "BF16",
    torch.int64: "I64",
    torch.int32: "I32",
    torch.int16: "I16",
    torch.int8: "I8",
    torch.uint8: "U8",
    torch.bool: "BOOL",
}

# Refuse absurd header lengths before allocating (the reference implementation uses 100 MB too).
_MAX_HEADER_BYTES = 100 * 1024 * 1024


class SafetensorsError(ValueError):
    """A malformed file or an unwritable tensor; the message names the file and the tensor."""


def dtype_size(dtype: str) -> int:
    if dtype not in _NUMPY_DTYPES:
        raise SafetensorsError(f"unknown safetensors dtype {dtype!r}; known: {sorted(_NUMPY_DTYPES)}")
    return _NUMPY_DTYPES[dtype].itemsize


def _decode(raw: bytes, dtype: str, shape: Tuple[int, ...]) -> torch.Tensor:
    array = np.frombuffer(raw, dtype=_NUMPY_DTYPES[dtype]).reshape(shape)
    if dtype == "BF16":
        # bfloat16 is the top half of a float32: shift the 16 bits into place.
        widened = array.astype(np.uint32) << np.uint32(16)
        return torch.from_numpy(widened.view(np.float32).copy())
    if dtype == "U16":
        return torch.from_numpy(array.astype(np.int32))
    return torch.from_numpy(array.astype(array.dtype.newbyteorder("="), copy=True))


def read_safetensors(path: str) -> Tuple[Dict[str, torch.Tensor], Dict[str, str]]:
    """Returns ({name: tensor}, metadata) after validating every offset against the file size."""
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        raise SafetensorsError(f"{path}: {len(blob)} bytes is too short for a safetensors header length")
    (header_len,) = struct.unpack("<Q", blob[:8])
    if header_len > _MAX_HEADER_BYTES or 8 + header_len > len(blob):
        raise SafetensorsError(f"{path}: header length {header_len} does not fit in a {len(blob)}-byte file")
    try:
        header = json.loads(blob[8 : 8 + header_len].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SafetensorsError(f"{path}: header is not valid UTF-8 JSON ({exc})") from None
    if not isinstance(header, dict):
        raise SafetensorsError(f"{path}: header JSON must be an object")

    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise SafetensorsError(f"{path}: __metadata__ must map strings to strings")

    data = blob[8 + header_len :]
    spans = []
    tensors: Dict[str, torch.Tensor] = {}
    for name, info in header.items():
        where = f"{path}: tensor {name!r}"
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            raise SafetensorsError(f"{where}: entry must have exactly dtype, shape, data_offsets")
        dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        if dtype not in _NUMPY_DTYPES:
            raise SafetensorsError(f"{where}: unknown dtype {dtype!r}")
        if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise SafetensorsError(f"{where}: shape {shape!r} must be a list of non-negative integers")
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(isinstance(o, int) for o in offsets)
            or not 0 <= offsets[0] <= offsets[1] <= len(data)
        ):
            raise SafetensorsError(f"{where}: data_offsets {offsets!r} outside the {len(data)} data bytes")
        expected = int(np.prod(shape, dtype=np.int64)) * dtype_size(dtype)
        if offsets[1] - offsets[0] != expected:
            raise SafetensorsError(
                f"{where}: {offsets[1] - offsets[0]} bytes but shape {shape} of {dtype} needs {expected}"
            )
        spans.append((offsets[0], offsets[1], name))
        tensors[name] = _decode(data[offsets[0] : offsets[1]], dtype, tuple(shape))

    # Tensors must tile the data section exactly: no gaps, no overlaps, no trailing bytes.
    cursor = 0
    for begin, end, name in sorted(spans):
        if begin != cursor:
            raise SafetensorsError(f"{path}: tensor {name!r} starts at {begin}, expected {cursor} (gap or overlap)")
        cursor = end
    if cursor != len(data):
        raise SafetensorsError(f"{path}: {len(data) - cursor} unclaimed bytes after the last tensor")
    return tensors, dict(metadata)


def _encode(name: str, value) -> Tuple[str, Tuple[int, ...], bytes]:
    """(dtype, shape, little-endian bytes) of a torch tensor or NumPy array."""
    if isinstance(value, torch.Tensor):
        tensor = value.detach().cpu().contiguous()
        if tensor.dtype not in _TORCH_TO_SAFETENSORS:
            raise SafetensorsError(f"tensor {name!r}: torch dtype {tensor.dtype} has no safetensors name")
        dtype = _TORCH_TO_SAFETENSORS[tensor.dtype]
        if dtype == "BF16":
            raw = tensor.view(torch.int16).numpy().astype("<i2").tobytes()
        else:
            raw = tensor.numpy().astype(_NUMPY_DTYPES[dtype]).tobytes()
        return dtype, tuple(tensor.shape), raw
    array = np.ascontiguousarray(value)
    for dtype, np_dtype in _NUMPY_DTYPES.items():
        if dtype != "BF16" and array.dtype.kind == np_dtype.kind and array.dtype.itemsize == np_dtype.itemsize:
            return dtype, tuple(array.shape), array.astype(np_dtype).tobytes()
    raise SafetensorsError(f"tensor {name!r}: NumPy dtype {array.dtype} has no safetensors name")


def write_safetensors(path: str, tensors: Mapping[str, object], metadata: Optional[Mapping[str, str]] = None) -> None:
    """Writes tensors (torch or NumPy; uint16 arrays become U16) in the given order, atomically."""
    header: Dict[str, object] = {}
    if metadata:
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise SafetensorsError(f"{path}: metadata must map strings to strings")
        header["__metadata__"] = dict(metadata)
    chunks = []
    offset = 0
    for name, value in tensors.items():
        if not name or name == "__metadata__":
            raise SafetensorsError(f"{path}: invalid tensor name {name!r}")
        dtype, shape, raw = _encode(name, value)
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    header_bytes = json.dumps(header, separators=(",", ":")).encode("utf-8")
    header_bytes += b" " * (-len(header_bytes) % 8)  # pad so the data section starts 8-byte aligned

    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    try:
        # mkstemp creates the file 0600; give it the permissions a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as f:
            f.write(struct.pack("<Q", len(header_bytes)))
            f.write(header_bytes)
            for raw in chunks:
                f.write(raw)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
