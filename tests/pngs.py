"""Hand-made PNG files for the tests of hostile images: one place that writes their bytes.

(The tests' folder is on ``sys.path``, as the folder of ``conftest.py``: ``from pngs import ...``.)
"""

from __future__ import annotations

import struct
import zlib

SIGNATURE = b"\x89PNG\r\n\x1a\n"


def chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data, CRC."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def one_colour_png(width: int, height: int, bits: int = 1) -> bytes:
    """A greyscale PNG of one colour written row by row with zlib: tiny on disk, ``width`` x ``height``
    pixels once decoded (a decompression bomb when large). ``bits`` 1: white; 8: black (larger on disk)."""
    row = b"\x00" + (b"\xff" * ((width + 7) // 8) if bits == 1 else b"\x00" * width)
    z = zlib.compressobj(9)
    data = b"".join(z.compress(row) for _ in range(height)) + z.flush()
    header = struct.pack(">IIBBBBB", width, height, bits, 0, 0, 0, 0)
    return SIGNATURE + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` pixels; its image data is empty."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return SIGNATURE + chunk(b"IHDR", header) + chunk(b"IDAT", b"") + chunk(b"IEND", b"")
