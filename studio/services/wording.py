"""Counted nouns for messages: ``plural(1, "problem")`` is "1 problem", never "1 problems"."""

from __future__ import annotations


def plural(count: int, word: str, many: str | None = None) -> str:
    """``count`` and ``word`` in the number that fits it; ``many`` is the plural form when it is
    not regular (``plural(2, "class")`` gives "2 classes" by itself). Thousands are grouped."""
    return f"{count:,} {word if count == 1 else many or plural_form(word)}"


def plural_form(word: str) -> str:
    """The regular English plural: image → images, class → classes, entry → entries."""
    if word.endswith(("s", "x", "z", "ch", "sh")):
        return word + "es"
    if len(word) > 1 and word.endswith("y") and word[-2] not in "aeiou":
        return word[:-1] + "ies"
    return word + "s"
