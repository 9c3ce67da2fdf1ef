"""Our mel filterbank equals the `mel_filters.npz` that the openai-whisper package ships."""

import io
import subprocess
import sys
import tarfile

import numpy as np
import pytest

from wacft.convert.mel import mel_filters

OPENAI_WHISPER = "openai-whisper==20250625"


@pytest.fixture(scope="module")
def openai_filters(tmp_path_factory) -> dict[str, np.ndarray]:
    """Downloaded in the test setup, as the package's source archive: no torch, nothing installed."""
    folder = tmp_path_factory.mktemp("openai-whisper")
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:", OPENAI_WHISPER,
         "-d", str(folder)],
        check=True,
    )
    with tarfile.open(next(folder.glob("*.tar.gz"))) as archive:
        member = next(m for m in archive.getmembers() if m.name.endswith("whisper/assets/mel_filters.npz"))
        return dict(np.load(io.BytesIO(archive.extractfile(member).read())))


@pytest.mark.parametrize("n_mels", [80, 128])
def test_mel_filters_match_openai_to_the_bit(openai_filters, n_mels):
    ours = mel_filters(n_mels)
    reference = openai_filters[f"mel_{n_mels}"]
    assert ours.dtype == reference.dtype == np.float32
    assert ours.shape == reference.shape == (n_mels, 201)
    np.testing.assert_array_equal(ours, reference)
