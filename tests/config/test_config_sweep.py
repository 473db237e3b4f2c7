"""Sweep files: expansion, patches into lists, overrides, presets and identity."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from ferablate import ConfigError
from ferablate.config import (
    TrialConfig,
    diff_configs,
    expand_sweep,
    flatten_config,
    load_sweep,
    parse_overrides,
    parse_sweep,
    preset_trial,
    sweep_target,
    trial_identity,
)

REPO = Path(__file__).resolve().parents[2]

BASE = {
    "data": {"source": "synthetic"},
    "model": {"preset": "baseline-model1"},
    "train": {"folds": 3, "epochs": 2},
}


def _identity(config: TrialConfig) -> str:
    return trial_identity(config, data_fingerprint="faces", precision="fp32")


def test_variants_in_order_and_empty_set_is_base() -> None:
    sweep = parse_sweep(
        {
            "name": "s",
            "base": BASE,
            "variants": [
                {"name": "base"},
                {"name": "elu", "set": {"model.activation": "elu"}},
                {
                    "name": "no-mp-l1",
                    "set": {"model.convs.0.pool": False, "model.convs.1.dilation": 2},
                },
            ],
        }
    )
    trials = expand_sweep(sweep)
    assert [t.name for t in trials] == ["base", "elu", "no-mp-l1"]
    assert [t.index for t in trials] == [0, 1, 2]
    base = trials[0].config
    assert base.model.family == "sequential" and base.model.activation == "relu"
    assert diff_configs(base, trials[1].config) == {"model.activation": "elu"}
    assert trials[2].config.model.convs[0].pool is False  # patch reached into the list
    assert trials[2].config.model.convs[1].dilation == 2
    assert trials[2].config.model.convs[1].pool is True  # the rest of the item is kept


def test_grid_is_a_cartesian_product_over_every_variant() -> None:
    sweep = parse_sweep(
        {
            "name": "s",
            "base": BASE,
            "variants": [{"name": "a"}, {"name": "b", "set": {"model.dropout": 0.2}}],
            "grid": {"train.lr": [1e-4, 1e-3], "train.batch_size": [10, 32, 64]},
        }
    )
    trials = expand_sweep(sweep)
    assert len(trials) == 2 * 2 * 3
    assert trials[0].name == "a[lr=0.0001,batch_size=10]"
    assert {(t.config.train.lr, t.config.train.batch_size) for t in trials[:6]} == {
        (lr, b) for lr in (1e-4, 1e-3) for b in (10, 32, 64)
    }
    assert all(t.config.model.dropout == 0.2 for t in trials[6:])
    assert len({_identity(t.config) for t in trials}) == 12


def test_overrides_apply_to_every_trial_and_parse_yaml_scalars() -> None:
    patch = parse_overrides(
        ["train.epochs=1", "data.limit=2000", "model.convs.2.pool=false", "data.path=x.csv"]
    )
    assert patch == {
        "train.epochs": 1,
        "data.limit": 2000,
        "model.convs.2.pool": False,
        "data.path": "x.csv",
    }
    sweep = parse_sweep(
        {
            "name": "s",
            "base": BASE,
            "variants": [{"name": "a"}, {"name": "b", "set": {"train.epochs": 9}}],
        }
    )
    trials = expand_sweep(sweep, patch)
    assert all(t.config.train.epochs == 1 for t in trials)  # overrides win over variants
    assert all(
        t.config.data.limit == 2000 and t.config.model.convs[2].pool is False for t in trials
    )


def test_preset_with_patches_is_a_two_line_ablation() -> None:
    sweep = parse_sweep(
        {
            "name": "s",
            "base": {"model": {"preset": "report-model1", "activation": "relu"}},
            "variants": [
                {"name": "final"},
                {"name": "model2", "set": {"model.preset": "report-model2", "model.dropout": 0.3}},
            ],
        }
    )
    final, model2 = expand_sweep(sweep)
    assert final.config.model.preset == "report-model1"
    assert final.config.model.activation == "relu"  # base key over the preset
    assert len(final.config.model.convs) == 6
    assert model2.config.model.family == "inception" and model2.config.model.dropout == 0.3


def test_hash_is_stable_and_sensitive() -> None:
    a = expand_sweep(parse_sweep({"name": "s", "base": BASE}))[0].config
    b = expand_sweep(parse_sweep({"name": "other-name", "base": BASE}))[0].config
    assert _identity(a) == _identity(b)  # identity = resolved config, not the sweep's name
    c = expand_sweep(
        parse_sweep(
            {"name": "s", "base": BASE, "variants": [{"name": "x", "set": {"train.seed": 1}}]}
        )
    )[0].config
    assert _identity(a) != _identity(c)
    flat = flatten_config(a)
    assert flat["model.convs.0.channels"] == 8 and flat["train.folds"] == 3


def test_shipped_sweeps_load() -> None:
    for path in sorted((REPO / "sweeps").glob("*.yaml")):
        sweep = load_sweep(path)
        assert expand_sweep(sweep), path


MALFORMED = [
    ("name: x\nbase: {model: {preset: baseline-model1}\n", "not valid YAML at line"),
    ("- name: x\n", "a sweep file is a mapping"),
    (
        "name: x\nbase: {model: {preset: baseline-model1}}\nvarients: []\n",
        "did you mean 'variants'",
    ),
    ("base: {model: {preset: baseline-model1}}\n", "'name'"),
    ("name: x\nbase: {train: {epochs: 2}}\n", "missing key 'model'"),
    (
        "name: x\nbase: {model: {preset: baseline-model1, activaton: elu}}\n",
        "did you mean 'model.activation'",
    ),
    (
        "name: x\nbase: {model: {preset: baseline-model1}, train: {epochs: five}}\n",
        "key 'train.epochs'",
    ),
    (
        "name: x\nbase: {model: {preset: baseline-model1}}\nvariants: [{set: {train.lr: 0.1}}]\n",
        "variants[0]: 'name'",
    ),
    (
        "name: x\nbase: {model: {preset: baseline-model1}}\nvariants: [{name: a}, {name: a}]\n",
        "duplicate variant name 'a'",
    ),
    (
        "name: x\nbase: {model: {preset: baseline-model1}}\nvariants: [{name: a, set: {lr: 0.1}}]\n",
        "must be a dotted key starting with data.",
    ),
    (
        "name: x\nbase: {model: {preset: baseline-model1}}\nvariants: [{name: a, set: {model.convs.7.pool: false}}]\n",
        "index 7 is out of range, the list has 3",
    ),
    (
        "name: x\nbase: {model: {preset: baseline-model1}}\ngrid: {train.lr: 0.1}\n",
        "grid key 'train.lr' needs a non-empty list",
    ),
    ("name: x\nbase: {model: {preset: report-modle1}}\n", "did you mean 'report-model1'"),
    (
        "name: x\nbase: {model: {preset: baseline-model1}}\nsearch: {train.lr: {low: 1, high: 0.1}}\n",
        "must be below 'high'",
    ),
    (
        "name: x\nbase: {model: {preset: baseline-model1}, data: {source: csv}}\n",
        "key 'data.source'",
    ),
    (
        "name: x\nbase: {model: {preset: baseline-model1}}\nvariants: [{name: gc, set: {model.convs.1.groups: 3}}]\n",
        "variant 'gc'",
    ),
    (
        "name: x\nbase: {model: {preset: baseline-model1}}\nvariants: [{name: a, set: {model.convs.0.kernel: 4}}]\n",
        "kernel sizes must be odd",
    ),
]


def _load_error(path: Path, content: bytes) -> str:
    """The ConfigError message of loading ``content`` as the sweep file ``path``."""
    from ferablate import ConfigError

    path.write_bytes(content)
    with pytest.raises(ConfigError) as info:
        load_sweep(path)
    return str(info.value)


@pytest.mark.parametrize(
    ("text", "expected"), MALFORMED, ids=[str(i) for i in range(len(MALFORMED))]
)
def test_malformed_sweep_gives_one_clear_line(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "bad.yaml"
    message = _load_error(path, text.encode())
    assert expected in message
    assert str(path) in message  # names the file
    assert "\n" not in message  # one line


@pytest.mark.parametrize("pair", ["train.epochs", "=3", "epochs=3", "train.lr=[1"])
def test_bad_overrides(pair: str) -> None:
    from ferablate import ConfigError

    with pytest.raises(ConfigError, match="--set"):
        parse_overrides([pair])


def test_unknown_override_key_names_closest_key(tmp_path: Path) -> None:
    from ferablate import ConfigError

    sweep = parse_sweep({"name": "s", "base": BASE})
    with pytest.raises(ConfigError, match=r"did you mean 'train\.epochs'"):
        expand_sweep(sweep, parse_overrides(["train.epocs=3"]))


def test_balance_accepts_booleans() -> None:
    sweep = parse_sweep({"name": "s", "base": {**BASE, "data": {"balance": False}}})
    assert expand_sweep(sweep)[0].config.data.balance == "none"


def test_every_problem_is_listed_unknown_keys_first(tmp_path: Path) -> None:
    from ferablate import ConfigError

    path = tmp_path / "bad.yaml"
    path.write_text("name: x\nbase: {train: {epocs: 2}}\nvarients: []\n")
    with pytest.raises(ConfigError) as info:
        load_sweep(path)
    first, *rest = str(info.value).splitlines()
    assert first == (
        f"{path}: unknown top-level key 'varients'; did you mean 'variants'? "
        "(1 of 3 problems; the others follow)"
    )
    assert [line.strip() for line in rest] == [
        f"{path}: base: unknown key 'train.epocs'; did you mean 'train.epochs'?",
        f"{path}: base: missing key 'model'",
    ]


def test_problems_of_several_variants_are_all_listed() -> None:
    from ferablate import ConfigError

    raw = {
        "name": "s",
        "base": BASE,
        "variants": [
            {"name": "ok"},
            {"name": "odd", "set": {"model.convs.0.kernel": 4}},
            {"name": "typo", "set": {"model.activaton": "elu"}},
        ],
    }
    with pytest.raises(ConfigError) as info:
        parse_sweep(raw, source="s.yaml")
    lines = [line.strip() for line in str(info.value).splitlines()]
    assert lines[0].startswith("s.yaml: variant 'typo': unknown key 'model.activaton'")
    # one value, shown once (it used to read "got 4 (got 4)")
    assert lines[1] == (
        "s.yaml: variant 'odd': key 'model.convs.0.kernel': kernel sizes must be odd so 'same' "
        "padding exists (got 4)"
    )


def test_shell_problems_name_variant_and_key() -> None:
    from ferablate import ConfigError

    raw = {
        "name": "s",
        "base": BASE,
        "variants": [{"name": "a", "set": {"lr": 0.1}}, {"name": "b", "sett": {}}],
        "grid": {"train.lr": 0.1},
    }
    with pytest.raises(ConfigError) as info:
        parse_sweep(raw, source="s.yaml")
    lines = [line.strip() for line in str(info.value).splitlines()]
    assert lines[0].startswith("s.yaml: variants[1] ('b'): unknown key 'sett'; did you mean 'set'?")
    assert lines[1:] == [
        "s.yaml: variants[0] ('a'): key 'lr' must be a dotted key starting with data., model. or train.",
        "s.yaml: grid key 'train.lr' needs a non-empty list of values",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "name: x\nbase:\n  model: {preset: baseline-model1}\n  train: {epochs: 2}\n  train: {lr: 0.1}\n",
            "not valid YAML at line 5, column 3: duplicate key 'train' (first given at line 4)",
        ),
        ("name: x\nbase: {model: {preset: baseline-model1}, model: {}}\n", "duplicate key 'model'"),
    ],
)
def test_duplicate_yaml_keys_name_file_line_and_key(
    tmp_path: Path, text: str, expected: str
) -> None:
    from ferablate import ConfigError

    path = tmp_path / "dup.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_sweep(path)
    assert str(info.value).startswith(f"{path}: ") and expected in str(info.value)
    assert "\n" not in str(info.value)


def test_yaml_merge_keys_still_override() -> None:
    from ferablate.config import load_yaml

    assert load_yaml("a: &a {x: 1, y: 2}\nb: {<<: *a, x: 3}\n")["b"] == {"x": 3, "y": 2}
    from ferablate import ConfigError

    with pytest.raises(ConfigError, match=r"--set 'model.dense=\{a: 1, a: 2\}'.*duplicate key 'a'"):
        parse_overrides(["model.dense={a: 1, a: 2}"])  # the --set value parser refuses them too


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe", "not a text file (byte"),
        (b"name: x\x00\n", "not valid YAML at character"),
    ],
)
def test_binary_sweep_file_is_one_line(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "binary.yaml"
    message = _load_error(path, content)
    assert message.startswith(f"{path}: ") and expected in message and "\n" not in message


def test_bad_sweep_with_two_problems_prints_every_line_once_via_the_cli(
    tmp_path: Path, ferablate_cli: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nbase:\n  train: {epocs: 3}\n")
    result = ferablate_cli("run", str(bad), "--dry-run")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2, result.stderr
    assert lines[0].startswith("error: ") and "did you mean 'train.epochs'" in lines[0]
    assert lines[1].strip().endswith("base: missing key 'model'")


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("train.epochs", True, "train.epochs': Input should be a valid integer (got True)"),
        ("train.seed", 2.0, "train.seed': Input should be a valid integer"),
        ("train.augment", 1, "train.augment': Input should be a valid boolean"),
        ("train.lr", True, "train.lr': must be a number, not true/false"),
        ("train.lr", float("nan"), "train.lr': Input should be a finite number (got nan)"),
        ("data.synthetic_size", 10**12, "data.synthetic_size': Input should be less than or equal"),
    ],
)
def test_strict_types_refuse_booleans_and_non_finite_numbers(
    key: str, value: object, expected: str
) -> None:
    from ferablate import ConfigError

    with pytest.raises(ConfigError) as caught:
        parse_sweep({"name": "s", "base": BASE, "variants": [{"name": "v", "set": {key: value}}]})
    assert f"<sweep>: variant 'v': key '{expected}" in str(caught.value)
    assert "\n" not in str(caught.value)  # one problem, one line


def test_floats_still_take_ints_and_yaml_exponents() -> None:
    sweep = parse_sweep({"name": "s", "base": BASE})
    (trial,) = expand_sweep(sweep, parse_overrides(["model.dropout=0", "train.lr=1e-3"]))
    assert (trial.config.model.dropout, trial.config.train.lr) == (0.0, 0.001)


def test_an_even_kernel_is_one_problem_without_a_spurious_empty_list() -> None:
    from ferablate import ConfigError

    sweep = parse_sweep({"name": "s", "base": BASE})
    with pytest.raises(ConfigError) as caught:
        expand_sweep(sweep, parse_overrides(["model.convs.0.kernel=4"]))
    assert str(caught.value) == (
        "--set: key 'model.convs.0.kernel': kernel sizes must be odd so 'same' padding exists "
        "(got 4)"
    )


def test_problems_are_blamed_on_the_grid_or_set_that_made_them() -> None:
    from ferablate import ConfigError

    two = [{"name": "a"}, {"name": "b", "set": {"train.lr": 0.01}}]
    with pytest.raises(ConfigError) as grid:
        parse_sweep({"name": "s", "base": BASE, "variants": two, "grid": {"train.lrr": [1, 2]}})
    assert str(grid.value) == "<sweep>: grid: unknown key 'train.lrr'; did you mean 'train.lr'?"
    sweep = parse_sweep({"name": "s", "base": BASE, "variants": two})
    with pytest.raises(ConfigError) as typo:
        expand_sweep(sweep, parse_overrides(["train.epohcs=2"]))
    assert str(typo.value) == "--set: unknown key 'train.epohcs'; did you mean 'train.epochs'?"
    with pytest.raises(ConfigError) as value:
        expand_sweep(sweep, parse_overrides(["train.epochs=abc"]))
    assert str(value.value).startswith("--set: key 'train.epochs': Input should be")
    with pytest.raises(ConfigError, match=r"^<sweep>: variant 'b': key 'train.lr'"):
        parse_sweep(
            {"name": "s", "base": BASE, "variants": [{"name": "b", "set": {"train.lr": 2}}]}
        )


def test_a_target_is_a_sweep_file_else_what_the_command_names(tmp_path: Path) -> None:
    found = sweep_target(str(REPO / "sweeps" / "model1_grid.yaml"), "more-dense")
    assert found is not None
    sweep, trial = found
    assert sweep.name == "report-model1-grid" and trial.config.model.dense == (32, 16)
    assert sweep_target("report-model1", None) is None
    with pytest.raises(ConfigError, match="--variant goes with a sweep file, not a run id"):
        sweep_target("0123456789abcdef", "a", otherwise="a run id")
    for path in (str(tmp_path), "sub/nope"):  # a folder or a slash: never a preset or run id
        with pytest.raises(ConfigError, match=r"a folder, not a sweep file|no such sweep file"):
            sweep_target(path, None)
    trial = preset_trial("report-model2", {"train.epochs": 3})
    assert (trial.name, trial.config.train.epochs, trial.patch) == (
        "report-model2",
        3,
        {"train.epochs": 3},
    )
