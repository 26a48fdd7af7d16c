"""Which indexed documents a question may be answered from (``--only`` / the API's filter)."""

from __future__ import annotations

import fnmatch

from qa_bot.errors import QaBotError


def select_documents(patterns: list[str], known: set[str]) -> list[str]:
    """The indexed documents a filter selects: each pattern is a document ("corpus/a.md", or
    "a.md" inside any source), a folder or source ("corpus", "notes/") or a glob ("*.pdf").
    A pattern that selects nothing is an error."""
    chosen: set[str] = set()
    for pattern in patterns:
        hits = {name for name in known if _selects(pattern, name)}
        if not hits:
            raise QaBotError(
                f"No indexed document matches '{pattern}': give a document or folder as "
                "`qa-bot sources documents` lists it, or a pattern such as '*.pdf'."
            )
        chosen |= hits
    return sorted(chosen)


def _selects(pattern: str, name: str) -> bool:
    """True when ``pattern`` names document ``name``, a folder holding it, or matches it."""
    folder = pattern.strip("/") + "/"
    inside = name.split("/", 1)[-1]  # the path within its source
    return (
        pattern in (name, inside)
        or name.startswith(folder)
        or inside.startswith(folder)
        or fnmatch.fnmatch(name, pattern)
    )
