"""Recording a dataset of one's own: sentences to read built from the person's words, takes from the
microphone checked and trimmed, clips kept in an audiofolder that `wacft train` reads, and imports of
recordings people already have."""
