"""The search domain: a word index over the notes the notes server publishes."""
