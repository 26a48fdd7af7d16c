"""The sentence-vector warmer of ``qa-bot serve``: after each change of the index (an ingest,
an upload, a rebuild, another replica's write), it embeds the sentences of every chunk into the
sentence cache in the background, so the first questions after the change do not pay for them.
It works in small batches: a question waits for one batch of the model at most."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from qa_bot.errors import QaBotError
from qa_bot.storage.store import Store
from qa_bot.text import chunk_sentences

log = logging.getLogger(__name__)
BATCH = 64
"""Sentences embedded per model call."""


class SentenceWarmer:
    """Watches the store ``current()`` returns (the chain's, which a rebuild swaps) every
    ``every`` seconds and warms it when its collection or generation changed."""

    def __init__(self, current: Callable[[], Store], every: float = 5.0) -> None:
        self.current = current
        self.every = every
        self._warmed: tuple[str, str | None] | None = None
        self._stop = threading.Event()

    def start(self) -> None:
        """Warm in a daemon thread until ``stop``."""
        threading.Thread(target=self._run, name="sentence-warmer", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while True:
            try:
                self.warm_if_changed()
            except QaBotError as error:  # Chroma or the database down: try again later
                log.warning("sentence warmer: %s", error)
            except Exception:  # never end the thread: the next change is warmed again
                log.exception("sentence warmer failed; it tries again at the next change")
            if self._stop.wait(self.every):
                return

    def warm_if_changed(self) -> int:
        """Warm the store when it changed since the last warming; the sentences read."""
        store = self.current()
        mark = (store.collection_name, store.generation())
        if mark == self._warmed:
            return 0
        read = self.warm(store)
        self._warmed = mark
        return read

    def warm(self, store: Store) -> int:
        """Embed (or find cached) the sentences of every chunk, document by document; the
        number of sentences read."""
        read = 0
        for document in sorted(store.documents()):
            if self._stop.is_set():
                break
            texts = [s.text for chunk in store.chunks(document) for s in chunk_sentences(chunk)]
            for start in range(0, len(texts), BATCH):
                store.sentence_embeddings.vectors(texts[start : start + BATCH])
            read += len(texts)
        log.info("sentence warmer: %d sentences of %s ready", read, store.collection_name)
        return read
