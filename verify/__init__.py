"""Checking a GGML .bin the way the phone runs it: whisper.cpp decodes (the phone's generation, with FUTO
Keyboard's decoding, and the current one), word error rates, runaway loops, and a verdict against the base model."""
