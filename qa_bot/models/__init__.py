"""Models qa-bot talks to or provisions: chat models by name (``CHAT_MODELS``) and instruct
models shipped on PyPI in parts."""
