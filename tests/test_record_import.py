"""Importing what people already have: clips with a text file each, and one long recording with its text
cut at its pauses (espeak-ng speech, sentences apart by pauses of room noise)."""

import re

import numpy as np
import pytest
import soundfile

from wacft.dataset.clips import load_audio
from wacft.errors import WacftError
from wacft.record.folder import RecordingFolder
from wacft.record.importer import CLEAR_MARGIN, import_clips, import_long

SENTENCES = ["Please send the notes to Anja.", "The build on GitHub is green.", "Call me back tomorrow.",
             "Grafana shows a spike at noon."]


def noise(seconds, seed=0):
    return np.random.default_rng(seed).normal(0, 1e-3, int(16000 * seconds)).astype(np.float32)


def test_clips_with_a_text_file_each(speak, tmp_path):
    source = tmp_path / "mine"
    source.mkdir()
    for i, sentence in enumerate(SENTENCES[:2]):
        samples, _ = soundfile.read(speak(sentence), dtype="float32")
        # one as 44.1 kHz stereo flac, as phones and recorders save them
        if i:
            import soxr

            stereo = np.stack([soxr.resample(samples, 16000, 44100)] * 2, axis=1)
            soundfile.write(source / f"take{i}.flac", stereo, 44100)
        else:
            soundfile.write(source / f"take{i}.wav", samples, 16000)
        (source / f"take{i}.txt").write_text(sentence + "\n")
    soundfile.write(source / "mystery.wav", noise(1), 16000)  # no transcript beside it
    folder = RecordingFolder(tmp_path / "dataset")
    result = import_clips(source, folder)
    assert [r.text for r in folder.rows] == SENTENCES[:2]
    assert len(result.kept) == 2 and result.left_out == ["mystery.wav: no mystery.txt beside it (its words are"
                                                         " never guessed)"]
    assert abs(len(load_audio(tmp_path / "dataset" / "clip0002.wav")) - len(load_audio(source / "take1.flac"))) <= 1
    again = import_clips(source, RecordingFolder(tmp_path / "dataset"))
    assert again.kept == [] and sum("already in the folder" in x for x in again.left_out) == 2
    with pytest.raises(WacftError, match="no wav, flac"):
        import_clips(tmp_path / "dataset" / "..", RecordingFolder(tmp_path / "x"))


def read_aloud(speak, sentences, gaps, tmp_path):
    parts = [noise(0.5, 1)]
    for i, sentence in enumerate(sentences):
        samples, _ = soundfile.read(speak(sentence), dtype="float32")
        parts += [samples, noise(gaps[i] if i < len(gaps) else 0.5, i + 2)]
    path = tmp_path / "long.wav"
    soundfile.write(path, np.concatenate(parts), 16000)
    return path


def test_a_long_recording_is_cut_at_its_pauses_one_sentence_a_clip(speak, tmp_path):
    path = read_aloud(speak, SENTENCES, [0.8, 0.8, 0.8], tmp_path)
    folder = RecordingFolder(tmp_path / "dataset")
    result = import_long(path, "  ".join(SENTENCES), folder)
    assert [r.text for r in folder.rows] == SENTENCES and result.left_out == []
    for row, sentence in zip(folder.rows, SENTENCES, strict=True):
        said, _ = soundfile.read(speak(sentence), dtype="float32")
        spoken = np.flatnonzero(np.abs(said) > 0.01)
        assert len(load_audio(tmp_path / "dataset" / row.file_name)) >= spoken[-1] - spoken[0]


def test_unclear_cuts_are_said_and_nothing_is_guessed(speak, tmp_path):
    # the first sentence is read in two halves with a pause between them nearly as long as the real cuts: which
    # pauses end sentences is then a guess, so no piece is kept
    path = read_aloud(speak, ["Please send the notes", "to Anja.", *SENTENCES[1:3]], [0.7, 0.8, 0.8], tmp_path)
    folder = RecordingFolder(tmp_path / "dataset")
    result = import_long(path, "Please send the notes to Anja. " + " ".join(SENTENCES[1:3]), folder)
    assert folder.rows == [] and len(result.left_out) == 3
    assert all("cut uncertain" in x for x in result.left_out)
    assert all(float(x) < CLEAR_MARGIN for x in re.findall(r"clarity ([\d.]+)x", "\n".join(result.left_out)))


def test_too_few_pauses_for_the_text(speak, tmp_path):
    path = read_aloud(speak, SENTENCES[:2], [0.8], tmp_path)
    with pytest.raises(WacftError, match="1 clear pauses for 3 sentences"):
        import_long(path, " ".join(SENTENCES[:3]), RecordingFolder(tmp_path / "dataset"))


def test_wacft_record_proposes_imports_and_sums_up(speak, tmp_path, capsys):
    from wacft.cli import main

    source = tmp_path / "mine"
    source.mkdir()
    soundfile.write(source / "a.wav", soundfile.read(speak(SENTENCES[1]), dtype="float32")[0], 16000)
    (source / "a.txt").write_text(SENTENCES[1])
    (tmp_path / "terms.txt").write_text("GitHub\nGrafana\n")
    folder = str(tmp_path / "dataset")
    assert main(["record", folder, "--terms", str(tmp_path / "terms.txt"), "--per-term", "3",
                 "--import-clips", str(source)]) == 0
    out = capsys.readouterr().out
    assert "sentences to read" in out and "kept 1, left out 0" in out
    assert "1 clips, 0.0 min · terms: GitHub 1  Grafana 0" in out
    assert len(RecordingFolder(folder).state.prompts) == 2 * (3 + 2)
    assert main(["record", folder, "--import-long", str(source / "a.wav")]) == 1
    assert "--import-long and --transcript go together" in capsys.readouterr().err
