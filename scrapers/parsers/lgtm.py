"""Detector for "LGTM" approval comments.

Role: decide whether one comment body expresses LGTM approval. Pure function, no state.

Rule (decided with the GitHub scrapers, see docs/github.md "LGTM"): a comment is an approval when
one of its lines contains the WORD ``lgtm`` (any case, optionally as the ``/lgtm`` command) that is

* not part of a longer word (``lgtmfoo``, ``lgtm-ish``, ``algtm``),
* not followed by a question mark (``LGTM?`` asks, it does not approve) or by ``cancel``
  (``/lgtm cancel`` withdraws an approval),
* not negated: none of the four words before it in the same clause (text after the last
  ``, ; : . ! ?`` before it) is a negation (``not``, ``no``, ``never``, ``without``, ``nor``,
  ``cannot`` or a word ending in ``n't``),
* not on a quoted line (``> LGTM``), inside a fenced code block, or inside an inline code span.

So ``Thanks, LGTM``, ``tested, LGTM`` and ``Code LGTM :+1:`` are approvals (the common ways reviewers
write it), while ``not lgtm``, ``This is not LGTM until tests pass`` and ``doesn't look lgtm yet``
are not. Anything may follow an approving ``lgtm`` (``LGTM!``, ``lgtm :+1:``, ``LGTM once CI is green``).

``\\r\\n`` and ``\\n`` line endings are both accepted.
"""

from __future__ import annotations

import re

__all__ = ["is_lgtm"]

_WORD_RE = re.compile(r"(?<![\w-])/?lgtm(?![\w-])", re.IGNORECASE)
_REJECT_REST_RE = re.compile(r"^[\s*_]*(?:\?|cancel\b)", re.IGNORECASE)
_FENCE_RE = re.compile(r"^[ \t]*(?:```|~~~)")
_INLINE_CODE_RE = re.compile(r"`[^`]*`")
_CLAUSE_END_RE = re.compile(r"[,;:.!?]")
_NEGATIONS = frozenset({"not", "no", "never", "without", "nor", "cannot"})
_NEGATION_WINDOW = 4


def _negated(before: str) -> bool:
    """True when one of the last words of the clause before ``lgtm`` is a negation."""
    clause = _CLAUSE_END_RE.split(before)[-1]
    words = [w.strip("*_~\"'()[]").lower() for w in clause.split()]
    return any(w in _NEGATIONS or w.endswith("n't") or w.endswith("n\u2019t") for w in words[-_NEGATION_WINDOW:])


def _is_lgtm_line(line: str) -> bool:
    if line.lstrip().startswith(">"):
        return False
    text = _INLINE_CODE_RE.sub(" ", line)
    for match in _WORD_RE.finditer(text):
        if _REJECT_REST_RE.match(text[match.end() :]) or _negated(text[: match.start()]):
            continue
        return True
    return False


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
