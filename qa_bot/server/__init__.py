"""The HTTP face: one FastAPI app with the JSON API, server-sent events, an OpenAI-compatible
endpoint, the source viewer, feedback, the wiki widget, and the Gradio chat at /."""

from qa_bot.server.app import create_app

__all__ = ["create_app"]
