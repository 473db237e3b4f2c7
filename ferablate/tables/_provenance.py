"""What the numbers of a table are: the provenance sentences of captions and footers.

Every ``table``, ``compare`` and ``summary`` output states the data (source, hash prefix,
faces used, balance protocol), the protocol (folds x repeats, epochs, batch size, precision)
and the git commit of the code that trained its rows, plus the overrides every trial shared
(``--set data.limit=...``): a table of 280 synthetic faces must never read like the real study.
Rows trained by another commit or on other data than the rest get a footnote
(:data:`OTHER_ORIGIN_MARK`).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ferablate.config import Sweep, TrialConfig, flatten_config, resolve_trial
from ferablate.tables._cells import format_number

__all__ = [
    "OTHER_ORIGIN_MARK",
    "RowOrigin",
    "code_sentence",
    "data_words",
    "other_origin",
    "provenance_notes",
    "provenance_sentences",
    "short_hash",
    "summary_footer",
    "sweep_footer",
]

OTHER_ORIGIN_MARK = "‡"  # on a row trained by other code or data than most rows
_HEX = re.compile(r"^[0-9a-f]{16,}$")


@dataclass(frozen=True)
class RowOrigin:
    """Where one row's numbers come from (its run's config and tags)."""

    name: str  # trial name
    config: TrialConfig  # resolved config the run trained
    data_hash: str  # ferablate.data_hash tag ("" unknown)
    git_commit: str  # ferablate.git_commit tag ("" unknown: code outside git)
    precision: str = ""  # ferablate.precision tag: what autocast ran ("" unknown)


def short_hash(value: str) -> str:
    """``1a2b3c4d`` of a hex hash or commit (``+dirty`` kept); other ids (synthetic-v1-0-280) whole."""
    if not value:
        return "unknown"
    head, plus, tail = value.partition("+")
    if _HEX.match(head):
        head = head[:8]
    return head + plus + tail


def _values(origins: Sequence[RowOrigin], read: Callable[[RowOrigin], object]) -> str:
    """The one value all rows share, else the distinct values joined by ``/``."""
    seen = list(dict.fromkeys(format_number(read(origin)) for origin in origins))
    return "/".join(seen)


def _faces(origins: Sequence[RowOrigin]) -> str:
    def faces(origin: RowOrigin) -> str:
        data = origin.config.data
        if data.limit is not None:
            return f"{data.limit} Training faces (data.limit)"
        if data.source == "synthetic":
            return f"all {data.synthetic_size} Training faces"
        return "all Training faces"

    return " / ".join(dict.fromkeys(faces(origin) for origin in origins))


def _usual(origins: Sequence[RowOrigin]) -> tuple[str, str]:
    """The data hash and the commit most rows share (the others get a footnote)."""
    data_hash = Counter(origin.data_hash for origin in origins).most_common(1)[0][0]
    return data_hash, Counter(origin.git_commit for origin in origins).most_common(1)[0][0]


def _precisions(origins: Sequence[RowOrigin]) -> str:
    return _values(origins, lambda o: o.precision or o.config.train.precision)


def code_sentence(commit: str) -> str:
    """``code 1a2b3c4d`` (``+dirty``), or that the code's commit is unknown."""
    return f"code {short_hash(commit)}" if commit else "code commit unknown (not a git checkout)"


def summary_footer(source: str) -> str:
    """What a layer table (``ferablate summary``) is: its config and the code that drew it."""
    from ferablate import __version__
    from ferablate.tracking import git_commit

    return (
        f"Config: {source}; 1×48×48 grayscale input, 7 classes; "
        f"ferablate {__version__}, {code_sentence(git_commit())}."
    )


def provenance_sentences(
    origins: Sequence[RowOrigin], base: TrialConfig | None = None
) -> list[str]:
    """The sentences that say what the rows' numbers are (empty without rows that ran).

    1. data and protocol: ``Data: fer2013 1a2b3c4d, 4000 Training faces (data.limit),
       balance report; 5 folds × 1 repeat, 10 epochs, batch 32, bf16; code 5a95330c.``
    2. ``Set for every trial: data.limit=4000, train.epochs=10.`` (keys on which every row
       agrees and that differ from ``base``, the sweep's own base config)
    3. ``‡ Other code or data than the rest: b (code 1234abcd), c (data 89abcdef).``
    """
    if not origins:
        return []
    data_hash, commit = _usual(origins)
    source, digest = _values(origins, lambda o: o.config.data.source), short_hash(data_hash)
    # a synthetic data hash already starts with its source ("synthetic-v1-0-210")
    data = (
        f"Data: {digest if digest.startswith(source) else f'{source} {digest}'}, "
        f"{_faces(origins)}, balance {_values(origins, lambda o: o.config.data.balance)}"
    )
    sentences = [f"{data}; {_protocol(origins)}, {_precisions(origins)}; {code_sentence(commit)}."]
    shared = _shared_overrides(base, [origin.config for origin in origins])
    if shared:
        pairs = ", ".join(f"{key}={format_number(value)}" for key, value in sorted(shared.items()))
        sentences.append(f"Set for every trial: {pairs}.")
    others = other_origin(origins)
    if others:
        listed = ", ".join(f"{name} ({', '.join(parts)})" for name, parts in others.items())
        sentences.append(f"{OTHER_ORIGIN_MARK} Other code or data than the rest: {listed}.")
    return sentences


def sweep_footer(sweep: Sweep, origins: Sequence[RowOrigin]) -> str:
    """The provenance sentences of a table of ``sweep``'s rows as one footer (the shared
    overrides made against the sweep's own base config)."""
    return " ".join(provenance_sentences(origins, resolve_trial(sweep.base, [])))


_BALANCE_WORDS = {
    "fold": "copies drawn inside each training fold",
    "report": "classes balanced before the folds were split (the report's protocol)",
    "none": "no class balancing",
}


def _data_phrase(origin: RowOrigin) -> str:
    data = origin.config.data
    if data.source == "synthetic":
        return f"Synthetic faces ({data.limit or data.synthetic_size:,})"
    where = "FER2013 Training" if data.source == "fer2013" else "Image-folder Training faces"
    return (
        f"{where}, {data.limit:,}-face stratified subset" if data.limit else f"{where}, all faces"
    )


def data_words(origins: Sequence[RowOrigin]) -> str:
    """What the rows' numbers are, in a reader's words (no hashes, no config keys); empty
    without rows that ran. For example ``FER2013 Training, 4,000-face stratified subset;
    copies drawn inside each training fold; 5 folds × 1 repeat, 5 epochs, batch 10; bf16``."""
    if not origins:
        return ""
    data = " / ".join(dict.fromkeys(_data_phrase(origin) for origin in origins))
    balance = " / ".join(
        dict.fromkeys(_BALANCE_WORDS[origin.config.data.balance] for origin in origins)
    )
    return f"{data}; {balance}; {_protocol(origins)}; {_precisions(origins)}"


def _protocol(origins: Sequence[RowOrigin]) -> str:
    """``5 folds × 1 repeat, 5 epochs, batch 10``: how the rows were trained."""
    repeats = _values(origins, lambda o: o.config.train.repeats)
    epochs = _values(origins, lambda o: o.config.train.epochs)
    return (
        f"{_values(origins, lambda o: o.config.train.folds)} folds × {repeats} "
        f"repeat{'s' * (repeats != '1')}, {epochs} epoch{'s' * (epochs != '1')}, "
        f"batch {_values(origins, lambda o: o.config.train.batch_size)}"
    )


def provenance_notes(origins: Sequence[RowOrigin], base: TrialConfig | None = None) -> list[str]:
    """The provenance a table note carries under :func:`data_words`: ``Data <hash prefix>;
    code <commit>.``, then the shared overrides and the rows of other origin (as in
    :func:`provenance_sentences`)."""
    if not origins:
        return []
    data_hash, commit = _usual(origins)
    first = f"Data {short_hash(data_hash)}; {code_sentence(commit)}."
    return [first, *provenance_sentences(origins, base)[1:]]


def _shared_overrides(
    base: TrialConfig | None, configs: Sequence[TrialConfig]
) -> dict[str, object]:
    """Keys on which every config agrees and that differ from ``base`` (``--set`` pairs)."""
    if base is None:
        return {}
    reference = flatten_config(base)
    flat_rows = [flatten_config(config) for config in configs]
    return {
        key: value
        for key, value in flat_rows[0].items()
        if reference.get(key, _MISSING) != value
        and all(flat.get(key, _MISSING) == value for flat in flat_rows)
    }


_MISSING = object()


def other_origin(origins: Sequence[RowOrigin]) -> dict[str, list[str]]:
    """Rows trained by another commit or on other data than most rows: name -> what differs."""
    if not origins:
        return {}
    data_hash, commit = _usual(origins)
    others: dict[str, list[str]] = {}
    for origin in origins:
        parts = [f"code {short_hash(origin.git_commit)}"] if origin.git_commit != commit else []
        if origin.data_hash != data_hash:
            parts.append(f"data {short_hash(origin.data_hash)}")
        if parts:
            others[origin.name] = parts
    return others
