""""Did you mean …?" for misspelled names (spec keys, tag fields). Standard library only."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """``"; did you mean 'memory'?"`` for the known name closest to ``name``, else ``""``.

    Compares snake_case and camelCase spellings alike (``memroy`` → ``memory``,
    ``maxReplicas`` → ``max_replica``).
    """
    known = list(known)
    folded = {k.replace("_", "").lower(): k for k in known}
    probe = str(name).replace("_", "").lower()
    if probe in folded:
        return f"; did you mean {folded[probe]!r}?"
    match = difflib.get_close_matches(probe, list(folded), n=1, cutoff=0.6)
    return f"; did you mean {folded[match[0]]!r}?" if match else ""
