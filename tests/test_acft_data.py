"""Training data: local audiofolders, `datasets` folders (the hub code path), formats, prefixes, refusals."""

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile

from wacft.acft.batch_inputs import tokenize
from wacft.acft.config import TrainConfig
from wacft.acft.events import CallbackSink
from wacft.acft.trainer import train
from wacft.audio import level_db, load_audio, speech_bounds
from wacft.dataset.clips import Clip, as_the_phone_records, load_clips
from wacft.dataset.layout import VARIED_LEAD, VARIED_NOISE_DB, VARIED_TAIL
from wacft.dataset.spec import DatasetSpec
from wacft.errors import WacftError
from wacft.facts import FUTO_LEAD_SECONDS, FUTO_TAIL_SECONDS


def settings(dataset, **overrides):
    return TrainConfig(model="unused", dataset=str(dataset), out="unused", **overrides)


@pytest.mark.parametrize("fmt, subtype", [("FLAC", "PCM_16"), ("OGG", "VORBIS"), ("MP3", "MPEG_LAYER_III")])
def test_compressed_audio_decodes_to_16khz_without_ffmpeg(speak, tmp_path, fmt, subtype):
    samples, rate = soundfile.read(speak("Testing one two three."))
    path = tmp_path / f"clip.{fmt.lower()}"
    resampled = np.interp(np.arange(0, len(samples), rate / 44100), np.arange(len(samples)), samples)
    soundfile.write(path, resampled, 44100, format=fmt, subtype=subtype)
    audio = load_audio(path)
    assert audio.dtype == np.float32 and abs(len(audio) - len(samples)) < 0.05 * len(samples)


def test_undecodable_audio_is_one_sentence(tmp_path):
    (tmp_path / "bad.wav").write_bytes(b"not audio at all")
    with pytest.raises(WacftError, match="cannot be decoded"):
        load_audio(tmp_path / "bad.wav")


def test_jsonl_metadata_and_other_column_names(speak, tmp_path):
    (tmp_path / "a.wav").write_bytes(speak("Good morning.").read_bytes())
    (tmp_path / "b.wav").write_bytes(speak("Good night.").read_bytes())
    rows = [{"file_name": "a.wav", "sentence": "Good morning."}, {"file_name": "b.wav", "sentence": " "}]
    (tmp_path / "metadata.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    clips = load_clips(DatasetSpec(str(tmp_path)))
    assert [c.text for c in clips.clips] == ["Good morning."]
    assert clips.skipped["empty transcript"] == 1 and "1 empty transcript" in clips.summary()
    with pytest.raises(WacftError, match="no text column 'words'"):
        load_clips(DatasetSpec(str(tmp_path), text_column="words"))


def test_a_datasets_folder_goes_through_the_hub_path(speak, tmp_path):
    """A parquet dataset with an Audio column: read with `datasets`, decoded by soundfile from the bytes."""
    import datasets

    texts = ["Turn on the lights.", "Play some music."]
    table = datasets.Dataset.from_dict({
        "audio": [{"bytes": speak(t).read_bytes(), "path": None} for t in texts],
        "transcription": texts,
        "speaker": ["a", "b"],
    }).cast_column("audio", datasets.Audio())
    (tmp_path / "data").mkdir()
    table.to_parquet(str(tmp_path / "data" / "train-00000.parquet"))
    clips = load_clips(DatasetSpec(str(tmp_path)))
    assert [c.text for c in clips.clips] == texts and 0.5 < clips.clips[0].seconds < 4
    assert len(clips.clips[0].audio) == round(clips.clips[0].seconds * 16000)  # decoded from the bytes


def test_only_headers_are_read_up_front_and_missing_files_are_counted(speak, tmp_path):
    soundfile.write(tmp_path / "a.flac", soundfile.read(speak("Good morning."))[0], 16000, format="FLAC")
    (tmp_path / "metadata.csv").write_text("file_name,text\na.flac,Good morning.\ngone.wav,Hello.\n")
    clips = load_clips(DatasetSpec(str(tmp_path)))
    [clip] = clips.clips
    assert clips.skipped == {"missing audio file": 1}
    assert isinstance(clip.source, Path)  # what a clip holds: where its audio is, not the samples
    assert len(clip.audio) == round(clip.seconds * 16000) and clip.audio.dtype == np.float32


def lead_and_tail(audio):
    start, end = speech_bounds(audio, pad=0.0)
    return start / 16000, (len(audio) - end) / 16000


def test_a_share_of_the_clips_is_laid_out_as_the_phone_records(speak, tmp_path):
    """0.6 s of silence before the speech and 1.98 s after, as FUTO Keyboard's takes have it: each clip gets what
    it lacks of that, on the same clips for the same seed; one that would grow past the longest allowed, or
    already has that silence, stays as it is."""
    wav = speak("Good morning.")
    original = load_audio(wav)
    clips = [Clip(wav, "Good morning.", len(original) / 16000) for _ in range(8)] + [Clip(wav, "long", 28.0)]
    laid_out = as_the_phone_records(clips, 1.0, seed=0, longest=29.0)
    assert laid_out[-1] == clips[-1]  # 28 s + its missing silence would pass 29 s
    audio = laid_out[0].audio
    assert lead_and_tail(audio) == pytest.approx((0.6, 1.98), abs=0.03)  # to the 30 ms frame it is measured in
    before = round(laid_out[0].silence[0] * 16000)
    assert np.array_equal(audio[before : before + len(original)], original) and not audio[:before].any()
    assert len(audio) == round(laid_out[0].seconds * 16000)
    roomy = tmp_path / "roomy.wav"  # a take that already has more silence before and after than the phone's
    soundfile.write(roomy, np.pad(original, (16000, 3 * 16000)), 16000)
    kept = Clip(roomy, "Good morning.", len(original) / 16000 + 4.0)
    assert as_the_phone_records([kept], 1.0, seed=0, longest=29.0) == [kept]
    half = [c.silence != (0.0, 0.0) for c in as_the_phone_records(clips[:8], 0.5, seed=3, longest=29.0)]
    assert sum(half) == 4 and half == [c.silence != (0.0, 0.0)
                                       for c in as_the_phone_records(clips[:8], 0.5, seed=3, longest=29.0)]
    assert as_the_phone_records(clips, 0.0, seed=0, longest=29.0) == clips


def test_varied_silence_draws_each_clips_lead_tail_and_noise(speak):
    """--varied-silence (a candidate): each clip's lead and tail drawn from their ranges, most clips with white noise
    at a level in range over the whole clip, a quarter or so in digital silence; the same draws for the same seed
    and every decode of a clip alike (its reference states are computed once)."""
    wav = speak("Good morning.")
    clips = [Clip(wav, "Good morning.", len(load_audio(wav)) / 16000) for _ in range(60)]
    varied = as_the_phone_records(clips, 1.0, seed=0, longest=29.0, varied=True)
    assert varied == as_the_phone_records(clips, 1.0, seed=0, longest=29.0, varied=True)
    assert varied != as_the_phone_records(clips, 1.0, seed=1, longest=29.0, varied=True)
    leads, tails = zip(*(lead_and_tail(replace(c, noise=None).audio) for c in varied), strict=True)
    assert min(leads) > VARIED_LEAD[0] - 0.05 and max(leads) < VARIED_LEAD[1] + 0.05 and np.ptp(leads) > 0.3
    assert min(tails) > VARIED_TAIL[0] - 0.05 and max(tails) < VARIED_TAIL[1] + 0.05 and np.ptp(tails) > 0.6
    quiet = [c for c in varied if c.noise is None]
    assert 6 <= len(quiet) <= 27 and all(not c.audio[:1600].any() for c in quiet)  # 15 expected
    for clip in (c for c in varied if c.noise):
        audio = clip.audio
        assert np.array_equal(audio, clip.audio)
        assert abs(level_db(audio[:1600]) - clip.noise[0]) < 1.0  # the lead: the noise alone
        assert VARIED_NOISE_DB[0] <= clip.noise[0] <= VARIED_NOISE_DB[1]


def test_short_tails_keep_the_phones_lead_and_draw_each_tail_from_none_to_the_phones(speak):
    """short_tails (a candidate): the lead as the phone's, the tail drawn for each clip from none to the phone's
    1.98 s, in zeros; the same draws for the same seed."""
    wav = speak("Good morning.")
    clips = [Clip(wav, "Good morning.", len(load_audio(wav)) / 16000) for _ in range(40)]
    short = as_the_phone_records(clips, 1.0, seed=0, longest=29.0, short_tails=True)
    assert short == as_the_phone_records(clips, 1.0, seed=0, longest=29.0, short_tails=True)
    assert short != as_the_phone_records(clips, 1.0, seed=1, longest=29.0, short_tails=True)
    leads, tails = zip(*(lead_and_tail(c.audio) for c in short), strict=True)
    assert np.ptp(leads) < 0.02 and abs(leads[0] - FUTO_LEAD_SECONDS) < 0.05
    own_tail = lead_and_tail(load_audio(wav))[1]  # kept whole: a drawn tail only tops it up
    assert min(tails) > own_tail - 0.02 and max(tails) < FUTO_TAIL_SECONDS + 0.05 and np.ptp(tails) > 1.0
    assert all(c.noise is None and not c.audio[:1600].any() for c in short)


def test_settings_saved_before_the_phone_silence_trained_without_it():
    written = json.loads(settings("d").to_json())
    assert written.pop("phone_silence_share") == 1.0
    assert TrainConfig.from_json(json.dumps(written)).phone_silence_share == 1.0  # a new config: the default
    assert TrainConfig.from_json(json.dumps(written), saved=True).phone_silence_share == 0.0  # a run's, from before


def test_multilingual_prefix_carries_language_and_task(tiny_en_dir):
    from transformers import WhisperProcessor

    from wacft.dataset.clips import Clip

    processor = WhisperProcessor.from_pretrained(tiny_en_dir)
    clip = [Clip(Path("unused.wav"), "Hello There", 1.0)]
    english = tokenize(processor, clip, settings("x"), multilingual=False)[0]
    assert english[:2] == [50257, 50362] and english[-1] == 50256  # sot, notimestamps ... eot
    assert processor.tokenizer.decode(english[2:-1]) == "hello there"  # lower-cased, as published
    spoken = tokenize(processor, clip, settings("x", language="en", lowercase=False), multilingual=True)[0]
    assert spoken[:4] == [50257, 50258, 50358, 50362]  # sot, <|en|>, <|transcribe|>, notimestamps
    assert processor.tokenizer.decode(spoken[4:-1]) == "Hello There"
    with pytest.raises(WacftError, match="--language"):
        tokenize(processor, clip, settings("x"), multilingual=True)


def test_stage_one_learns_the_text_as_whisper_writes_it(tiny_en_dir):
    """Whisper begins its first word with a space (" Ball."): stage 1's labels do too, so one-word clips do not
    teach the no-space tokens that run words together; case and punctuation stay as written."""
    from transformers import WhisperProcessor

    from wacft.dataset.clips import Clip

    processor = WhisperProcessor.from_pretrained(tiny_en_dir)
    clip = [Clip(Path("unused.wav"), "Ball.", 1.0)]
    [written] = tokenize(processor, clip, settings("x"), multilingual=False, as_written=True)
    assert processor.tokenizer.convert_ids_to_tokens(written[2:-1]) == ["\u0120Ball", "."]
    [distilled] = tokenize(processor, clip, settings("x"), multilingual=False)
    assert processor.tokenizer.convert_ids_to_tokens(distilled[2:-1]) == ["ball", "."]  # ACFT as published


def test_push_without_hub_access_fails_before_training(tiny_en_dir, tmp_path, monkeypatch, speak):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    (tmp_path / "a.wav").write_bytes(speak("Good morning.").read_bytes())
    (tmp_path / "metadata.csv").write_text("file_name,text\na.wav,Good morning.\n")
    events = []
    config = TrainConfig(model=str(tiny_en_dir), dataset=str(tmp_path), out=str(tmp_path / "out"),
                         push_to="me/x")
    with pytest.raises(WacftError, match="hf auth login"):
        train(config, CallbackSink(events.append))
    assert not any(e["type"] == "step" for e in events)
