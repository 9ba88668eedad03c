"""Detector for "LGTM" approval comments.

Role: decide whether one comment body expresses LGTM approval. Pure function, no state.

Rule (deliberately simple and conservative: a missed approval is cheaper than a false one):
a comment is an approval when at least one of its lines STARTS with the word ``lgtm``
(any case, optionally as the ``/lgtm`` command), after leading whitespace, markdown emphasis
(``*``, ``_``), heading marks (``#``), emoji, ``:shortcode:`` emoji and ``+1``. Anything may
follow (``LGTM!``, ``lgtm :+1:``, ``LGTM 👍``, ``LGTM, thanks``) except

* a question mark right after it (``LGTM?`` asks, it does not approve), and
* ``cancel`` (``/lgtm cancel`` withdraws an approval).

Not an approval:

* ``lgtm`` inside a word (``lgtmfoo``, ``lgtm-ish``, ``algtm``);
* quoted lines (``> LGTM``) and lines inside fenced code blocks;
* ``lgtm`` that is not the first word of its line: this is what rules out negations such as
  ``not lgtm`` or ``doesn't look lgtm yet``, at the price of also missing ``Thanks, LGTM``.

``\\r\\n`` and ``\\n`` line endings are both accepted.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["is_lgtm"]

_SHORTCODE_RE = re.compile(r"^:[a-z0-9_+\-]+:", re.IGNORECASE)
_LGTM_RE = re.compile(r"^/?lgtm(?![\w-])(?P<rest>.*)$", re.IGNORECASE)
_REJECT_REST_RE = re.compile(r"^[\s*_]*(?:\?|cancel\b)", re.IGNORECASE)
_FENCE_RE = re.compile(r"^[ \t]*(?:```|~~~)")
_DECORATION = " \t*_#"
_EMOJI_CATEGORIES = frozenset({"So", "Sk", "Cf", "Mn"})


def _strip_decoration(line: str) -> str:
    """Remove leading whitespace, emphasis, heading marks, emoji, shortcodes and '+1'."""
    while True:
        before = line
        line = line.lstrip(_DECORATION)
        line = _SHORTCODE_RE.sub("", line)
        if line.startswith("+1"):
            line = line[2:]
        while line and unicodedata.category(line[0]) in _EMOJI_CATEGORIES:
            line = line[1:]
        if line == before:
            return line


def _is_lgtm_line(line: str) -> bool:
    if line.lstrip().startswith(">"):
        return False
    match = _LGTM_RE.match(_strip_decoration(line))
    return match is not None and not _REJECT_REST_RE.match(match.group("rest"))


def is_lgtm(body: str) -> bool:
    """True when a line of ``body`` expresses LGTM approval (see the module docstring)."""
    in_fence = False
    for line in body.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if _FENCE_RE.match(line):
            in_fence = not in_fence
            continue
        if not in_fence and _is_lgtm_line(line):
            return True
    return False
