"""What a dataset error says: worded for what the person gave (a folder of their own, a hub id), with the
columns found, and no command-line flag (the wizard shows these sentences too)."""


import pytest

from wacft.dataset.clips import load_clips
from wacft.dataset.spec import DatasetSpec
from wacft.errors import WacftError


def said(dataset, **columns) -> str:
    with pytest.raises(WacftError) as caught:
        load_clips(DatasetSpec(str(dataset), **columns))
    message = str(caught.value)
    assert "--" not in message
    return message


def test_a_folder_whose_metadata_lacks_a_column_lists_the_columns_it_has(tmp_path):
    (tmp_path / "metadata.csv").write_text("clip,words\na.wav,hello\n")
    assert said(tmp_path) == (
        f"The metadata in {tmp_path} has no audio column (looked for audio, file_name, path, file); its columns"
        " are clip, words; give the name of the one that holds the audio files as the audio column.")
    assert said(tmp_path, audio_column="clip") == (
        f"The metadata in {tmp_path} has no text column (looked for text, sentence, transcription,"
        " raw_transcription, normalized_text, transcript); its columns are clip, words; give the name of the"
        " one that holds the transcripts as the text column.")
    assert said(tmp_path, audio_column="clip", text_column="text") == (
        f"The metadata in {tmp_path} has no text column 'text'; its columns are clip, words.")


def test_a_folder_of_recordings_without_metadata_is_told_to_add_it(tmp_path, speak):
    (tmp_path / "a.wav").write_bytes(speak("Hello.").read_bytes())
    assert said(tmp_path) == (f"{tmp_path} has audio files but no metadata.csv or metadata.jsonl to give their"
                              " transcripts; add one with a row per file (columns file_name,text).")


def test_an_empty_folder_is_a_folder_not_a_hub_id(tmp_path):
    assert said(tmp_path) == (f"{tmp_path} has no metadata.csv; add one naming each audio file and its transcript"
                              " (columns file_name,text).")


@pytest.mark.e2e
def test_a_hub_id_that_cannot_be_loaded_is_worded_for_the_hub(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setattr("datasets.config.HF_DATASETS_OFFLINE", True)  # read at import, maybe before
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    message = said("someone/no-such-dataset")
    assert message.startswith("The hub dataset someone/no-such-dataset could not be loaded (")
    assert message.endswith("); check its id, config and split.")


@pytest.mark.e2e
def test_a_bare_name_that_is_no_folder_is_taken_for_a_mistyped_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setattr("datasets.config.HF_DATASETS_OFFLINE", True)  # read at import, maybe before
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.chdir(tmp_path)
    message = said("my-recordigns")
    assert message.startswith(
        "There is no folder my-recordigns here, and no hub dataset of that name could be loaded (")
    assert message.endswith("); check the path to your recordings (or give a hub id as owner/name).")


@pytest.mark.e2e
def test_a_bare_name_close_to_a_folder_here_names_that_folder(monkeypatch, tmp_path):
    """A typo'd folder given without ./ is tried on the hub; a folder of a similar name here is what was meant."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setattr("datasets.config.HF_DATASETS_OFFLINE", True)  # read at import, maybe before
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my-recordings").mkdir()
    message = said("my-recordigns")
    assert message.startswith("There is no folder my-recordigns here, and no hub dataset of that name could be loaded")
    assert message.endswith("); did you mean the folder ./my-recordings, or a hub id as owner/name?")
    assert said("./my-recrodings") == "There is no folder my-recrodings; did you mean ./my-recordings?"
    assert said(tmp_path / "my-recordngs") == f"There is no folder {tmp_path / 'my-recordngs'}; did you mean" \
                                              f" {tmp_path / 'my-recordings'}?"
