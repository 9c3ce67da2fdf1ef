"""The Textual wizard, `wacft-tui`."""
