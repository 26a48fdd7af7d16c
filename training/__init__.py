"""Tools that make qa-bot's reader: its training data, training, validation and calibration.

Nothing in ``qa_bot`` imports them: the runtime reader (``qa_bot.reader``) only loads the
weights they write.
"""
