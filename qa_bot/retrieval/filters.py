"""Which indexed documents a question may be answered from (``--only`` / the API's filter)."""

from __future__ import annotations

import fnmatch

from qa_bot.errors import QaBotError


def select_documents(patterns: list[str], known: set[str]) -> list[str]:
    """The indexed documents a filter selects: each pattern is a file ("notes/a.md"), a folder
    ("notes" or "notes/") or a glob ("*.pdf"). A pattern that selects nothing is an error."""
    chosen: set[str] = set()
    for pattern in patterns:
        folder = pattern.strip("/") + "/"
        hits = {d for d in known if d == pattern or d.startswith(folder)}
        hits |= set(fnmatch.filter(known, pattern))
        if not hits:
            raise QaBotError(
                f"No indexed document matches '{pattern}': give a file or folder path as "
                "`qa-bot documents` lists it, or a pattern such as '*.pdf'."
            )
        chosen |= hits
    return sorted(chosen)
