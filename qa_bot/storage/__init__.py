"""What qa-bot keeps on disk or on a server: the embedding model, the index, feedback."""
