"""Conversion of Hugging Face Whisper models to whisper.cpp GGML files."""
