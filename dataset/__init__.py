"""A dataset's clips, from a local audiofolder or the Hugging Face hub: which dataset and how to read it
(`spec`), and its clips, read without FFmpeg and laid out as the phone records them (`clips`)."""
