"""A small PNG reader for the tests (8-bit RGB/RGBA, non-interlaced: what Chromium writes).

Pillow is not a project dependency; this keeps the image checks dependency-free.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

SIGNATURE = b"\x89PNG\r\n\x1a\n"


def read_png(path: Path) -> np.ndarray:
    """Pixels as an array of shape (height, width, channels), dtype uint8."""
    data = path.read_bytes()
    if not data.startswith(SIGNATURE):
        raise ValueError(f"{path}: not a PNG file")
    pos = len(SIGNATURE)
    idat = bytearray()
    width = height = channels = 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", body)
            if depth != 8 or interlace or color not in (2, 6):
                raise ValueError(f"{path}: unsupported PNG (depth {depth}, color {color})")
            channels = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    raw = zlib.decompress(bytes(idat))
    stride = width * channels
    out = np.zeros((height, stride), dtype=np.uint8)
    prev = np.zeros(stride, dtype=np.int32)
    for y in range(height):
        start = y * (stride + 1)
        filter_type = raw[start]
        line = np.frombuffer(raw, dtype=np.uint8, count=stride, offset=start + 1).astype(np.int32)
        if filter_type == 0:
            row = line
        elif filter_type == 1:
            row = _sequential(line, prev, channels, lambda a, b, c: a)
        elif filter_type == 2:
            row = (line + prev) & 0xFF
        elif filter_type == 3:
            row = _sequential(line, prev, channels, lambda a, b, c: (a + b) // 2)
        elif filter_type == 4:
            row = _sequential(line, prev, channels, _paeth)
        else:
            raise ValueError(f"{path}: bad filter type {filter_type} in row {y}")
        out[y] = row
        prev = row.astype(np.int32)
    return out.reshape(height, width, channels)


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def _sequential(
    line: np.ndarray, prev: np.ndarray, bpp: int, predict: Callable[[int, int, int], int]
) -> np.ndarray:
    """Undo a filter whose prediction depends on the already decoded left neighbour."""
    cur = line.tolist()
    up = prev.tolist()
    for i in range(len(cur)):
        a = cur[i - bpp] if i >= bpp else 0
        c = up[i - bpp] if i >= bpp else 0
        cur[i] = (cur[i] + predict(a, up[i], c)) & 0xFF
    return np.array(cur, dtype=np.int32)
