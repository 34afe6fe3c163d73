"""Deterministic English-like message corpus for the store benchmark (stdlib only).

Imported by ``bench/stores.py`` and by ``bench/orig/run_orig.py`` inside the original's
own venv, so every system appends exactly the same texts. Messages are 200 to 400
characters long (median about 330) and alternate between user and assistant.
"""

from __future__ import annotations

import random
from functools import lru_cache

_WORDS_TEXT = (
    "the of and to in is that it for was on are as with his they at be this from have or by one had not "
    "but what all were when we there can an your which their said if do will each about how up out them "
    "then she many some so these would other into has more her two like him see time could no make than "
    "first been its who now people my made over did down only way find use may water long little very "
    "after words called just where most know get through back much before go good new write our used me "
    "man too any day same right look think also around another came come work three word must because "
    "does part even place well such here take why things help put years different away again off went old "
    "number great tell men say small every found still between name should home big give air line set own "
    "under read last never us left end along while might next sound below saw something thought both few "
    "those always looked show large often together asked house world going want school important until "
    "form food keep children feet land side without boy once animals life enough took sometimes four head "
    "above kind began almost live page got earth need far hand high year mother light parts country "
    "father let night following picture being study second eyes soon times story boys since white days "
    "ever paper hard near sentence better best across during today others however sure means knew try "
    "told young miles sun ways thing whole hear example heard several change answer room sea against top "
    "turned learn point city play toward five using himself usually session model memory agent context "
    "token summary request response tool result query answer store event history message"
)
_WORDS = _WORDS_TEXT.split()

SEED = 20261125


@lru_cache(maxsize=1)
def corpus(n: int = 10_000) -> tuple[str, ...]:
    """Return ``n`` deterministic messages (the same on every machine and Python 3.11+)."""
    rng = random.Random(SEED)
    out: list[str] = []
    for _ in range(n):
        target = int(rng.triangular(200, 400, 365))
        sentences: list[str] = []
        length = 0
        while length < target:
            words = [rng.choice(_WORDS) for _ in range(rng.randint(6, 16))]
            sentence = " ".join(words).capitalize() + rng.choice((".", ".", ".", "?", "!"))
            sentences.append(sentence)
            length += len(sentence) + 1
        text = " ".join(sentences)
        if len(text) > target:
            text = text[: text.rfind(" ", 0, target)]
        if not text.endswith((".", "?", "!")):
            text = text.rstrip(" ,") + "."
        out.append(text)
    return tuple(out)


def text(i: int) -> str:
    """Message ``i`` of the corpus (indices wrap around 10,000)."""
    texts = corpus()
    return texts[i % len(texts)]


def role(i: int) -> str:
    """``"user"`` for even ``i``, ``"assistant"`` for odd."""
    return "user" if i % 2 == 0 else "assistant"
