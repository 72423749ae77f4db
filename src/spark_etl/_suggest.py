"""The "did you mean" of every message that names something unknown (a transform, a column, a
schema, a secret id): one matcher, so that every layer suggests alike."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def closest(word: str, candidates: Iterable[str]) -> str | None:
    """The candidate most like ``word`` (case-insensitive), if any is close enough.

    Args:
        word: the misspelt name.
        candidates: the valid names.

    Returns:
        The best match in its original spelling, or ``None`` when nothing is similar.
    """
    by_lower = {c.lower(): c for c in candidates}
    found = difflib.get_close_matches(word.lower(), list(by_lower), n=1)
    return by_lower[found[0]] if found else None


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """A `` Did you mean 'x'?`` hint for messages, or an empty string when nothing is close.

    Args:
        word: the misspelt name.
        candidates: the valid names.

    Returns:
        The hint, with a leading space, or ``""``.
    """
    match = closest(word, candidates)
    return f" Did you mean '{match}'?" if match else ""
