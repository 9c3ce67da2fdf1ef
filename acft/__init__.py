"""ACFT training: audio-context fine-tuning for dynamic whisper.cpp audio_ctx."""
