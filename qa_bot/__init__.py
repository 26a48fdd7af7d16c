"""qa-bot: a small, self-hosted retrieval-augmented Q&A chatbot with verifiable citations."""

__version__ = "0.1.0"
