"""Text from files, made safe to show: on a terminal, in a message, or in a saved design.

A name in a design or a file name may hold control characters: an escape sequence (ESC ``\\x1b``)
that clears the screen or retitles the terminal, a carriage return that overwrites the line, a
right-to-left override (U+202E) that shows ``exe.txt`` for ``txt.exe``, or a lone surrogate that
cannot be written as UTF-8 at all. Everything the command line prints that came from a file goes
through :func:`printable`; a design's name and description are cleaned with :func:`clean_text` when
the spec is made, so that the saved file always encodes.
"""

from __future__ import annotations

# Bidirectional formatting (embeddings, overrides, isolates, marks) and the Unicode line and
# paragraph separators: they reorder or break what a reader sees without being visible themselves.
_INVISIBLE_FORMAT = frozenset(
    [0x061C, 0x200E, 0x200F, 0x2028, 0x2029, *range(0x202A, 0x202F), *range(0x2066, 0x206A)]
)


def is_unsafe(ch: str) -> bool:
    """A C0 or C1 control character, DEL, a bidi control, a line separator or a lone surrogate."""
    code = ord(ch)
    return (code < 0x20 or 0x7F <= code <= 0x9F or code in _INVISIBLE_FORMAT
            or 0xD800 <= code <= 0xDFFF)


def _escape(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def printable(text: object) -> str:
    """``text`` with every unsafe character replaced by a visible escape (ESC -> ``\\x1b``,
    U+202E -> ``\\u202e``), so that printing it can never move the cursor, retitle the terminal or
    reorder the line. Safe text comes back unchanged."""
    text = str(text)
    if not any(is_unsafe(ch) for ch in text):
        return text
    return "".join(_escape(ch) if is_unsafe(ch) else ch for ch in text)


def clean_text(text: str, *, multiline: bool = False) -> str:
    """``text`` with unsafe characters replaced by U+FFFD (the replacement character), so it can be
    shown and saved as UTF-8. Tabs become spaces; with ``multiline``, line breaks (``\\n``, and
    ``\\r\\n`` made ``\\n``) are kept, otherwise they become spaces."""
    if not any(is_unsafe(ch) for ch in text):
        return text
    if multiline:
        text = text.replace("\r\n", "\n")
    out = []
    for ch in text:
        if ch == "\t" or (ch in "\r\n" and not multiline):
            out.append(" ")
        elif ch == "\n":
            out.append(ch)
        elif is_unsafe(ch):
            out.append("\ufffd")
        else:
            out.append(ch)
    return "".join(out)


def short_repr(value: object, limit: int = 60) -> str:
    """``repr(value)`` for a message: at most ``limit`` characters and printable, whatever the value
    (a list of a million items, an int with thousands of digits, a string of escape sequences)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return f"a whole number of about {int(value.bit_length() * 0.30103) + 1:,} digits"
    if isinstance(value, (list, dict)) and len(value) > limit:
        text = f"a {type(value).__name__} of {len(value):,} items"
    else:
        try:
            text = repr(value)
        except (RecursionError, ValueError):  # deeply nested data; ints past Python's digit limit
            text = f"a deeply nested {type(value).__name__}"
    text = printable(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def format_bytes(n: float) -> str:
    """``37_500_000_000`` -> ``"37.5 GB"`` (decimal units, as disks and memory sticks are sold)."""
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            value = n / size
            return f"{value:.3g} {unit}" if value < 1000 else f"{value:,.0f} {unit}"
    return f"{int(n)} bytes"


def safe_file_stem(name: str, default: str = "model", limit: int = 80) -> str:
    """A name (a design's, which may come from a stranger) as a file or folder name stem: ASCII
    letters, digits, ``_``, ``-`` and ``.`` only (every other run of characters becomes ``-``), never
    starting or ending with a dot or a dash, at most ``limit`` characters; ``default`` if nothing is
    left. So ``../../.bashrc`` gives ``bashrc`` and picks no other folder."""
    import re

    return re.sub(r"[^\w.-]+", "-", name, flags=re.ASCII).strip("-.")[:limit].rstrip("-.") or default


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """``1 layer``, ``2 layers``, ``1,024 parameters``; ``plural`` where adding an s is wrong
    (``counted(2, "entry", "entries")``)."""
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {plural or noun + 's'}"
