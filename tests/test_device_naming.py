"""device/ without a phone: names from the GGML header, name checks, `adb devices -l` lines, states and
choosing a phone."""

from __future__ import annotations

import struct

import pytest
from fixtures.ggml_file import write_ggml

from wacft.device.adb import Listed, parse_devices_line
from wacft.device.devices import NoPhone, PhoneInfo, PhoneNotUsable, SeveralPhones, choose_phone
from wacft.device.naming import (
    BadName,
    NotAWhisperModel,
    check_folder,
    check_name,
    default_name,
    read_model_kind,
)


def ggml(path, *, layers, vocab, ftype):
    return write_ggml(path, layers=layers, vocab=vocab, ftype=ftype)


@pytest.mark.parametrize(("layers", "vocab", "ftype", "name"), [
    (4, 51864, 0, "tiny_en_acft_f32.bin"),
    (6, 51864, 2008, "base_en_acft_q5_0.bin"),
    (12, 51865, 2007, "small_acft_q8_0.bin"),
    (24, 51865, 1, "medium_acft_f16.bin"),
    (32, 51866, 2002, "large_acft_q4_0.bin"),  # large-v3 has 51866 tokens: multilingual
    (6, 51864, 2003, "base_en_acft_q4_1.bin"),
    (6, 51864, 2009, "base_en_acft_q5_1.bin"),
    (2, 51864, 1, "2layer_en_acft_f16.bin"),  # not a Whisper size: still says what it is
])
def test_default_name_says_what_the_model_is(tmp_path, layers, vocab, ftype, name):
    assert default_name(ggml(tmp_path / "model.bin", layers=layers, vocab=vocab, ftype=ftype)) == name


def test_default_name_keeps_a_label(tmp_path):
    model = ggml(tmp_path / "base_en_acft_q5_0_github.bin", layers=6, vocab=51864, ftype=2008)
    assert default_name(model) == "base_en_acft_q5_0_github.bin"
    assert default_name(model, label="my words (v2)") == "base_en_acft_q5_0_my-words-v2.bin"
    other = ggml(tmp_path / "base_en_acft_q8_0_x.bin", layers=6, vocab=51864, ftype=2008)
    assert default_name(other) == "base_en_acft_q5_0.bin"  # the header wins over a misleading file name


def test_kind_comes_from_the_header(tmp_path):
    kind = read_model_kind(ggml(tmp_path / "m.bin", layers=12, vocab=51865, ftype=2009))
    assert (kind.size, kind.english_only, kind.file_type) == ("small", False, "q5_1")
    assert kind.stem == "small_acft_q5_1"


@pytest.mark.parametrize("content", [b"", b"lmgg", b"GGUF" + bytes(60), struct.pack("<I", 0x67676D6C)])
def test_what_is_not_a_ggml_model_is_refused(tmp_path, content):
    (tmp_path / "x.bin").write_bytes(content)
    with pytest.raises(NotAWhisperModel, match="is not a whisper.cpp GGML model"):
        read_model_kind(tmp_path / "x.bin")


def test_a_missing_file_is_a_sentence(tmp_path):
    with pytest.raises(NotAWhisperModel, match="does not exist"):
        default_name(tmp_path / "missing.bin")


@pytest.mark.parametrize(("name", "checked"), [
    ("base_en_acft_q5_0", "base_en_acft_q5_0.bin"),
    ("base_en_acft_q5_0.bin", "base_en_acft_q5_0.bin"),
    ("My-Model.v2_final", "My-Model.v2_final.bin"),
    ("-x", "-x.bin"),  # pushed as an absolute path, so a leading '-' is never an option
])
def test_good_names(name, checked):
    assert check_name(name) == checked


@pytest.mark.parametrize("name", ["a b", "a;b", "$(id)", "`id`", "a|b", "a&b", "a>b", "a<b", "it's", 'a"b',
                                  "a*b", "a?b", "a\\b", "a/b", "ü", "a\tb", "a\nb", "(x)", "{x}", "~x", "a#b",
                                  "a!b"])
def test_names_with_anything_but_letters_digits_dot_underscore_dash_are_refused(name):
    with pytest.raises(BadName, match="has characters other than letters, digits, '.', '_' and '-'"):
        check_name(name)


def test_empty_hidden_and_overlong_names_are_refused():
    with pytest.raises(BadName, match="The name is empty"):
        check_name("")
    with pytest.raises(BadName, match="hides it from the file picker"):
        check_name(".model")
    with pytest.raises(BadName, match="characters long"):
        check_name("a" * 300)


def test_folders():
    assert check_folder("/sdcard/Download/") == "/sdcard/Download"
    for bad in ("sdcard", "/sdcard/../data", "/sdcard/My Models", "/sdcard;x", "/", ""):
        with pytest.raises(BadName):
            check_folder(bad)


@pytest.mark.parametrize(("line", "listed"), [
    ("127.0.0.1:40001        device product:fake model:Pixel_7 device:fake transport_id:3",
     Listed("127.0.0.1:40001", "device", 3)),
    ("R58M12ABCDE            unauthorized usb:1-1 transport_id:7", Listed("R58M12ABCDE", "unauthorized", 7)),
    ("emulator-5554          offline transport_id:1", Listed("emulator-5554", "offline", 1)),
    ("0123456789ABCDEF       no permissions (missing udev rules? user is in the plugdev group);"
     " see [http://developer.android.com/tools/device.html] usb:1-4 transport_id:2",
     Listed("0123456789ABCDEF", "no permissions (missing udev rules? user is in the plugdev group); see"
            " [http://developer.android.com/tools/device.html]", 2)),
    ("ABC recovery", Listed("ABC", "recovery", None)),
])
def test_devices_lines(line, listed):
    assert parse_devices_line(line) == listed


def test_each_state_has_a_sentence_saying_what_to_do():
    problems = {state: PhoneInfo("S1", state).problem for state in
                ("unauthorized", "offline", "no permissions (udev); see [x]", "recovery", "authorizing")}
    assert problems["unauthorized"] == ("The phone S1 is unauthorized: unlock it and accept the “Allow USB"
                                        " debugging?” prompt on its screen (tick “Always allow from this"
                                        " computer”), then run again.")
    assert "unplug and replug the cable" in problems["offline"]
    assert problems["no permissions (udev); see [x]"].startswith("The phone S1 may not be opened over USB")
    assert "in recovery mode; start Android normally" in problems["recovery"]
    assert "still connecting" in problems["authorizing"]
    assert PhoneInfo("S1", "device").problem is None


def test_choosing_a_phone():
    a, b, locked = PhoneInfo("A", "device"), PhoneInfo("B", "device"), PhoneInfo("L", "unauthorized")
    assert choose_phone([a, locked]) == a
    assert choose_phone([a, b], "B") == b
    with pytest.raises(SeveralPhones, match=r"2 phones are connected \(A, B\); choose one with --device"):
        choose_phone([a, b, locked])
    with pytest.raises(PhoneNotUsable, match="The phone L is unauthorized"):
        choose_phone([locked])
    with pytest.raises(PhoneNotUsable, match="The phone L is unauthorized"):
        choose_phone([a, locked], "L")
    with pytest.raises(NoPhone, match=r"No phone with serial C is connected \(connected: A, L\)"):
        choose_phone([a, locked], "C")
    with pytest.raises(NoPhone, match="No phone is connected over adb; plug it in and turn on USB debugging"):
        choose_phone([])
