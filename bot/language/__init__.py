"""Which language a message is written in, from word lists kept as data (one file a language)."""
