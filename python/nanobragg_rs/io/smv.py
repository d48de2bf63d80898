"""SMV (ADSC-style) images: the header nanoBragg writes, read back by fabio and dxtbx.

Unlike nanoBragg.c we always write a valid header: ``DIALS_ORIGIN`` ends with ``;`` like every
other line, and a header longer than 512 bytes is padded to the next multiple of 512 with
``HEADER_BYTES`` saying so (the reference writes past its 512 bytes, which shifts the pixels
for every reader).
"""

from __future__ import annotations

import math
import os
import sys

from .._records import record
from .images import write_blocks

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    import numpy as np

#: Keys in the order nanoBragg writes them.
HEADER_KEYS = (
    "SIZE1", "SIZE2", "PIXEL_SIZE", "DISTANCE", "WAVELENGTH", "BEAM_CENTER_X", "BEAM_CENTER_Y",
    "ADXV_CENTER_X", "ADXV_CENTER_Y", "MOSFLM_CENTER_X", "MOSFLM_CENTER_Y", "DENZO_X_BEAM",
    "DENZO_Y_BEAM", "DIALS_ORIGIN", "XDS_ORGX", "XDS_ORGY", "CLOSE_DISTANCE", "PHI",
    "OSC_START", "OSC_RANGE", "TWOTHETA",
)


def _g(x: float) -> str:
    return "%g" % x


def header_text(values: Mapping[str, object], extra: Mapping[str, str] | None = None) -> bytes:
    """The header block for ``values`` (numbers from ``Simulator.setup.header.as_dict()``),
    formatted as nanoBragg formats them and padded to a multiple of 512 bytes."""
    order = "little_endian" if sys.byteorder == "little" else "big_endian"
    lines = [f"DIM=2;", f"BYTE_ORDER={order};", "TYPE=unsigned_short;"]
    for key in HEADER_KEYS:
        v = values[key]
        if key in ("SIZE1", "SIZE2"):
            lines.append(f"{key}={int(v)};")  # type: ignore[call-overload]
        elif key == "DIALS_ORIGIN":
            lines.append(f"{key}=" + ",".join(_g(x) for x in v) + ";")  # type: ignore[attr-defined]
        else:
            lines.append(f"{key}={_g(float(v))};")  # type: ignore[arg-type]
    lines += ["DETECTOR_SN=000;", "BEAMLINE=fake;"]
    for k, v in (extra or {}).items():
        lines.append(f"{k}={v};")
    body = "\n".join(lines) + "\n}\f"
    size = 512
    while True:
        head = f"{{\nHEADER_BYTES={size};\n" + body
        if len(head) <= size:
            return head.encode("ascii").ljust(size, b" ")
        size += 512


def write_smv(
    path: str | os.PathLike[str], pixels: np.ndarray | Iterable[np.ndarray], values: Mapping[str, object]
) -> None:
    """Write unsigned 16-bit pixels (the (SIZE2, SIZE1) image, or its row blocks in order) with a
    nanoBragg header, atomically."""
    import numpy as np

    blocks = [pixels] if isinstance(pixels, np.ndarray) else pixels
    write_blocks(path, header_text(values), (np.asarray(b, dtype=np.uint16) for b in blocks))


@record
class SMVImage:
    """An SMV file as read: the header text, its values, and the pixels (SIZE2, SIZE1)."""

    header: str
    values: dict[str, str]
    data: np.ndarray


def read_smv(path: str | os.PathLike[str]) -> SMVImage:
    """Read an SMV file; raises ``ValueError`` naming the file if it is not one."""
    import numpy as np

    name = os.fspath(path)
    with open(name, "rb") as f:
        raw = f.read()
    if not raw.startswith(b"{\nHEADER_BYT"):
        raise ValueError(f"{name}: not an SMV image (no '{{ HEADER_BYTES' header)")
    import re

    m = re.search(rb"HEADER_BYTES\s*=\s*(\d+)", raw[:512])
    if not m:
        raise ValueError(f"{name}: no HEADER_BYTES in the header")
    header_bytes = int(m.group(1))
    end = raw.find(b"}", 0, max(header_bytes, 512) + 4096)
    header = raw[: end if end >= 0 else header_bytes].decode("ascii", errors="replace")
    values: dict[str, str] = {}
    for line in header.splitlines():
        if "=" in line:
            k, _, v = line.partition("=")
            values[k.strip(" {")] = v.strip().rstrip(";").strip()
    width, height = _size(values, "SIZE1", name), _size(values, "SIZE2", name)
    # nanoBragg.c may write a header longer than HEADER_BYTES; its data then follows the '}'.
    start = header_bytes
    if end >= header_bytes:
        start = end + 2
    big = "big" in values.get("BYTE_ORDER", "little")
    count = width * height
    if len(raw) < start + 2 * count:
        raise ValueError(f"{name}: {len(raw) - start} data bytes, expected {2 * count}")
    data = np.frombuffer(raw, dtype=">u2" if big else "<u2", count=count, offset=start)
    return SMVImage(header, values, data.astype(np.uint16).reshape(height, width))


def _size(values: dict[str, str], key: str, name: str) -> int:
    """A positive pixel count from the header, or ValueError naming the file."""
    text = values.get(key)
    if text is None:
        raise ValueError(f"{name}: {key} missing from the header")
    try:
        n = float(text)
    except ValueError:
        n = math.nan
    if not (math.isfinite(n) and n >= 1 and n == int(n)):
        raise ValueError(f"{name}: {key}={text[:40]!r} in the header is not a positive pixel count")
    return int(n)


def header_value(header: str, key: str) -> float:
    """nanoBragg's reading of a header value: the *last* occurrence of ``key`` as a substring,
    then the number after the next ``=``; NaN if the key is absent. (So ``DISTANCE`` in a
    nanoBragg header reads the CLOSE_DISTANCE line, and ``ORGX`` the XDS_ORGX line.)"""
    pos = header.rfind(key)
    if pos < 0:
        return math.nan
    eq = header.find("=", pos + len(key))
    if eq < 0:
        return 0.0
    import re

    m = re.match(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", header[eq + 1 :])
    return float(m.group(0)) if m else 0.0
