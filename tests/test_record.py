"""Recording a dataset: the proposals, the folder each kept clip goes into, and its summary."""

import csv
import wave

import numpy as np
import pytest

from wacft.dataset.clips import load_clips
from wacft.dataset.spec import DatasetSpec
from wacft.errors import WacftError
from wacft.record.folder import STATE, RecordingFolder
from wacft.record.prompts import DICTATION, OWN, frames, key, mentions, parse_terms, propose
from wacft.record.summary import ENOUGH_PER_TERM, Summary

TERMS = ["GitHub", "Kubernetes", "Anja Müller", "kubectl"]
OWN_TEXT = """Hi all,
I pushed the fix to GitHub last night. Anja Müller will review it.
- kubectl apply failed twice on staging
Kubernetes is fine. Ok.
"""


def sentences_with(prompts, term):
    return [p for p in prompts if p.kind != DICTATION and mentions(p.text, term)]


@pytest.mark.parametrize("per_term", [1, 5, 12])
def test_each_term_in_at_least_the_sentences_asked_and_nothing_twice(per_term):
    prompts = propose(TERMS, OWN_TEXT, per_term=per_term, dictations=3)
    for term in TERMS:
        assert len(sentences_with(prompts, term)) >= per_term
        assert sum(p.kind == DICTATION and mentions(p.text, term) for p in prompts) == 3
    assert len({key(p.text) for p in prompts}) == len(prompts)
    assert all(1 <= len(p.text.split()) - len(t.split()) + 1 <= 3 for p in prompts if p.kind == DICTATION
               for t in p.terms)


def test_the_persons_own_sentences_come_first_and_count_for_every_term_they_hold():
    prompts = propose(TERMS, OWN_TEXT, per_term=2)
    own = {p.text for p in prompts if p.kind == OWN}
    assert own == {"I pushed the fix to GitHub last night.", "Anja Müller will review it.",
                   "kubectl apply failed twice on staging", "Kubernetes is fine."}
    assert "Ok." not in {p.text for p in prompts}  # too short to be a take of its own


def test_proposals_are_the_same_for_the_same_seed_and_mix_long_and_short():
    first, again = propose(TERMS, per_term=5, seed=3), propose(TERMS, per_term=5, seed=3)
    assert [p.text for p in first] == [p.text for p in again]
    kinds = [p.kind for p in first]
    assert DICTATION in kinds[: len(kinds) // 2]  # dictations are spread out, not all at the end


def test_terms_are_parsed_once_each_and_asking_too_much_is_explained():
    assert parse_terms("GitHub, kubectl\n\n github ; Anja  Müller") == ["GitHub", "kubectl", "Anja Müller"]
    with pytest.raises(WacftError, match="at least one word"):
        propose([])
    with pytest.raises(WacftError, match=f"at most {len(frames()['sentences'])} sentences"):
        propose(["GitHub"], per_term=len(frames()["sentences"]) + 1)


def tone(seconds, amplitude=0.3):
    t = np.arange(int(16000 * seconds)) / 16000
    return (amplitude * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def test_kept_clips_are_listed_at_once_and_train_reads_the_folder(tmp_path):
    folder = RecordingFolder(tmp_path / "mine")
    folder.start(TERMS, propose(TERMS, per_term=1, dictations=1))
    first = folder.next_prompt()
    name = folder.keep(tone(1.5), folder.state.prompts[first].text)
    # on disk the moment keep returns: a 16 kHz mono 16-bit WAV and its row
    with wave.open(str(tmp_path / "mine" / name)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getnframes()) == (16000, 1, 2, 24000)
    with open(tmp_path / "mine" / "metadata.csv", newline="") as f:
        assert list(csv.DictReader(f)) == [{"file_name": name, "text": folder.state.prompts[first].text}]
    folder.keep(tone(0.8), "with a comma, and \"quotes\"")
    clips = load_clips(DatasetSpec(str(tmp_path / "mine")))
    assert [c.text for c in clips.clips][1] == 'with a comma, and "quotes"'
    assert [round(c.seconds, 2) for c in clips.clips] == [1.5, 0.8]
    np.testing.assert_allclose(clips.clips[0].audio, tone(1.5), atol=1 / 32767)


def test_reopening_continues_where_the_person_stopped(tmp_path):
    folder = RecordingFolder(tmp_path)
    folder.start(TERMS, propose(TERMS, per_term=2, dictations=1))
    kept = folder.next_prompt()
    folder.keep(tone(1), folder.state.prompts[kept].text)
    skipped = folder.next_prompt(kept)
    folder.skip(skipped)
    edited = folder.next_prompt(skipped)
    folder.edit(edited, "  my own   way of saying GitHub ")
    (tmp_path / "clip0002.wav").write_bytes(b"a take cut short by a crash")  # written, never listed

    again = RecordingFolder(tmp_path)
    assert again.state.terms == TERMS
    assert again.next_prompt() == edited
    assert again.state.prompts[edited].text == "my own way of saying GitHub"
    assert again.state.prompts[edited].terms == ["GitHub"]
    assert again.keep(tone(1), "next one") == "clip0003.wav"  # the stray file is never overwritten
    assert [r.file_name for r in RecordingFolder(tmp_path).rows] == ["clip0001.wav", "clip0003.wav"]


def test_everything_done_and_folders_that_cannot_be_used(tmp_path):
    folder = RecordingFolder(tmp_path / "a")
    folder.start(["GitHub"], propose(["GitHub"], per_term=1, dictations=1))
    folder.skip(0)
    folder.keep(tone(1), folder.state.prompts[1].text)
    assert folder.next_prompt() is None
    (tmp_path / "file").write_text("x")
    with pytest.raises(WacftError, match="is a file"):
        RecordingFolder(tmp_path / "file")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "metadata.csv").write_text("path,sentence\nx.wav,hello\n")
    with pytest.raises(WacftError, match="not a file_name,text list"):
        RecordingFolder(tmp_path / "b")
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / STATE).write_text("{not json")
    assert RecordingFolder(tmp_path / "c").state.prompts == []


def test_summary_counts_terms_minutes_and_says_what_is_missing(tmp_path):
    folder = RecordingFolder(tmp_path)
    folder.start(["GitHub", "kubectl"], [])
    for i in range(ENOUGH_PER_TERM):
        folder.keep(tone(1.5 if i % 2 else 6.0), f"GitHub number {i}")
    folder.keep(tone(2.5), "kubectl and GitHub")
    summary = Summary.of(folder)
    assert summary.per_term == {"GitHub": ENOUGH_PER_TERM + 1, "kubectl": 1}
    assert summary.minutes == pytest.approx((2 * 1.5 + 3 * 6.0 + 2.5) / 60)
    assert summary.missing() == [f"say kubectl ({ENOUGH_PER_TERM - 1} more)", "9.6 more minutes"]
    lines = summary.text().splitlines()
    assert lines[0] == f"{ENOUGH_PER_TERM + 1} clips, 0.4 min · terms: GitHub 6  kubectl 1"
    assert [line.split()[-1] for line in lines[2:]] == ["2", "1", "3", "0", "0"]  # 0-2, 2-5, 5-10, 10-20, 20-30 s
    enough = Summary([60.0] * 10, {"GitHub": 5})
    assert enough.missing() == [] and "enough to train" in enough.text()
