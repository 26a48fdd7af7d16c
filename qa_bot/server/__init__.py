"""The HTTP face: one FastAPI app (``qa_bot.server.app.create_app``) with the JSON API,
server-sent events, an OpenAI-compatible endpoint, the source viewer, feedback, the wiki widget,
and the Gradio chat at /. Importing this package loads nothing heavy (the CLI finds a running
server through ``qa_bot.server.local``)."""
