"""Every bad input is one line ``error: …`` on stderr, exit 2, and nothing written (README).

The table runs the CLI in-process (``run_cli``, the console script's own handler) in a fresh
folder that holds a few sweep files and a default store path that does not exist yet; each
row asserts exit 2, exactly one stderr line starting ``error:`` (with the expected words),
and that no file or folder appeared (no ``mlruns/``, no ``mlflow.db``, no Optuna DB).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from ferablate.cli._app import INTERRUPTED, run_cli

TINY = {
    "data": {"source": "synthetic", "synthetic_size": 210},
    "model": {"family": "sequential", "convs": [{"channels": 4}, {"channels": 8}], "dense": [16]},
    "train": {"folds": 2, "epochs": 1, "batch_size": 32, "lr": 0.003},
}
GOOD = {
    "name": "good",
    "base": TINY,
    "variants": [{"name": "a"}, {"name": "b", "set": {"train.lr": 0.01}}],
}
SEARCH = {
    "name": "srch",
    "base": TINY,
    "search": {"train.lr": {"low": 1e-3, "high": 1e-2, "log": True}},
}


def _sweep(**changes: object) -> str:
    """The good sweep with top-level ``changes`` (a value None drops the key), as YAML."""
    mapping = {**GOOD, **changes}
    return yaml.safe_dump({k: v for k, v in mapping.items() if v is not None}, sort_keys=False)


def _base(section: str, **values: object) -> str:
    return _sweep(base={**TINY, section: {**TINY[section], **values}})  # type: ignore[dict-item]


FILES: dict[str, str | bytes] = {
    "good.yaml": _sweep(),
    "search.yaml": yaml.safe_dump(SEARCH),
    "empty.yaml": "",
    "binary.yaml": b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe",
    "syntax.yaml": "name: [x\nbase: {\n",
    "list.yaml": "- a\n- b\n",
    "scalar.yaml": "just text\n",
    "noname.yaml": _sweep(name=None),
    "typo_top.yaml": _sweep(varients=[{"name": "a"}]),
    "typo_train.yaml": _base("train", epocs=3),
    "neg_epochs.yaml": _base("train", epochs=-1),
    "lr_text.yaml": _base("train", lr="fast"),
    "folds_one.yaml": _base("train", folds=1),
    "bad_activation.yaml": _base("model", activation="swish"),
    "bad_family.yaml": _base("model", family="transformer"),
    "bad_preset.yaml": _sweep(base={**TINY, "model": {"preset": "no-such-preset"}}),
    "bad_source.yaml": _base("data", source="imagenet"),
    "limit_zero.yaml": _base("data", limit=0),
    "dup_keys.yaml": "name: d\nbase:\n  train: {epochs: 1}\n  train: {folds: 2}\n",
    "variant_typo.yaml": _sweep(variants=[{"name": "a", "set": {"train.epocs": 2}}]),
    "variant_noname.yaml": _sweep(variants=[{"set": {"train.lr": 0.01}}]),
    "variant_dup.yaml": _sweep(variants=[{"name": "a"}, {"name": "a"}]),
    "grid_typo.yaml": _sweep(variants=[{"name": "a"}], grid={"train.lrr": [0.1, 0.2]}),
    "grid_empty.yaml": _sweep(grid={"train.lr": []}),
    "parent_unknown.yaml": _sweep(variants=[{"name": "a"}, {"name": "b", "parent": "zz"}]),
    "parent_self.yaml": _sweep(variants=[{"name": "a"}, {"name": "b", "parent": "b"}]),
    "parent_cycle.yaml": _sweep(
        variants=[{"name": "a", "parent": "b"}, {"name": "b", "parent": "a"}, {"name": "c"}]
    ),
    "claim_unknown.yaml": _sweep(
        claims=[{"says": "b helps", "variant": "b", "versus": "zz", "expect": "better"}]
    ),
    "claim_expect.yaml": _sweep(
        claims=[{"says": "b helps", "variant": "b", "versus": "a", "expect": "greater"}]
    ),
    "claim_metric.yaml": _sweep(
        claims=[{"says": "b", "variant": "b", "versus": "a", "expect": "better", "metric": "f1"}]
    ),
    "claim_typo.yaml": _sweep(
        claims=[{"says": "b", "variant": "b", "versus": "a", "expect": "better", "metrc": "x"}]
    ),
    "search_typo.yaml": yaml.safe_dump(
        {**SEARCH, "search": {"train.lrr": {"low": 0.1, "high": 0.2}}}
    ),
    "search_choice.yaml": yaml.safe_dump(
        {**SEARCH, "search": {"model.activation": {"choices": ["relu", "swish"]}}}
    ),
    "search_range.yaml": yaml.safe_dump(
        {**SEARCH, "search": {"train.lr": {"low": 0.1, "high": 0.01}}}
    ),
    "folds_vs_faces.yaml": _sweep(base={**TINY, "train": {**TINY["train"], "folds": 20}}),
    "empty.csv": "",
    "header_only.csv": "emotion,pixels,Usage\n",
    "huge_synthetic.yaml": _base("data", synthetic_size=10**12),
    "huge_dense.yaml": _base("model", dense=[100_000_000]),
    "epochs_true.yaml": _base("train", epochs=True),
    "lr_nan.yaml": _base("train", lr=float("nan")),
    "even_kernel.yaml": _base("model", convs=[{"channels": 4, "kernel": 4}]),
    "sub/x.yaml": _sweep(),
    "a[/b].yaml": "name: [x\n",
    "[red]x.yaml": "name: [x\n",
}

# (id, argv, words the one error line must contain); {tmp} is the test folder.
CASES: list[tuple[str, list[str], str]] = [
    # sweep files
    ("missing-sweep", ["run", "nope.yaml"], "no such sweep file"),
    ("sweep-is-a-folder", ["run", "{tmp}"], "a folder, not a sweep file"),
    ("empty-sweep", ["run", "empty.yaml"], "empty.yaml"),
    ("binary-sweep", ["run", "binary.yaml"], "binary.yaml"),
    ("yaml-syntax", ["run", "syntax.yaml"], "syntax.yaml"),
    ("top-level-list", ["run", "list.yaml"], "list.yaml"),
    ("top-level-scalar", ["run", "scalar.yaml"], "scalar.yaml"),
    ("no-name", ["run", "noname.yaml"], "name"),
    ("unknown-top-key", ["run", "typo_top.yaml"], "varients"),
    ("unknown-train-key", ["run", "typo_train.yaml"], "train.epochs"),
    ("negative-epochs", ["run", "neg_epochs.yaml"], "epochs"),
    ("lr-not-a-number", ["run", "lr_text.yaml"], "lr"),
    ("one-fold", ["run", "folds_one.yaml"], "folds"),
    ("unknown-activation", ["run", "bad_activation.yaml"], "activation"),
    ("unknown-family", ["run", "bad_family.yaml"], "family"),
    ("unknown-preset", ["run", "bad_preset.yaml"], "no-such-preset"),
    ("unknown-source", ["run", "bad_source.yaml"], "source"),
    ("limit-zero", ["run", "limit_zero.yaml"], "limit"),
    ("duplicate-keys", ["run", "dup_keys.yaml"], "train"),
    ("variant-unknown-key", ["run", "variant_typo.yaml"], "epocs"),
    ("variant-without-name", ["run", "variant_noname.yaml"], "name"),
    ("duplicate-variants", ["run", "variant_dup.yaml"], "a"),
    (
        "grid-unknown-key",
        ["run", "grid_typo.yaml"],
        "grid_typo.yaml: grid: unknown key 'train.lrr'",
    ),
    ("grid-empty-list", ["run", "grid_empty.yaml"], "train.lr"),
    ("folds-vs-faces-per-class", ["run", "folds_vs_faces.yaml"], "fold"),
    (
        "parent-unknown",
        ["run", "parent_unknown.yaml"],
        "parent_unknown.yaml: variant 'b': parent 'zz'",
    ),
    (
        "parent-self",
        ["run", "parent_self.yaml"],
        "parent_self.yaml: variant 'b': parent is the variant itself",
    ),
    (
        "parent-cycle",
        ["run", "parent_cycle.yaml", "--dry-run"],
        "variant 'a': parents form a cycle (a -> b -> a)",
    ),
    ("parent-cycle-compare", ["compare", "parent_cycle.yaml"], "parent_cycle.yaml: variant 'a'"),
    (
        "claim-unknown-variant",
        ["claims", "claim_unknown.yaml"],
        "claims[0] ('b helps'): versus 'zz'",
    ),
    ("claim-bad-expect", ["claims", "claim_expect.yaml"], "'expect' should be 'better'"),
    ("claim-bad-metric", ["run", "claim_metric.yaml"], "'metric' should be 'val_accuracy'"),
    (
        "claim-unknown-key",
        ["claims", "claim_typo.yaml"],
        "unknown key 'metrc'; did you mean 'metric'?",
    ),
    ("claims-none-in-sweep", ["claims", "good.yaml"], "no 'claims:'"),
    ("claims-bad-adjust", ["claims", "good.yaml", "--adjust", "bonferroni"], "--adjust"),
    ("compare-bad-adjust", ["compare", "good.yaml", "--adjust", "bonferroni"], "--adjust"),
    ("synthetic-size-huge", ["run", "huge_synthetic.yaml"], "data.synthetic_size"),
    ("dense-too-big-for-memory", ["run", "huge_dense.yaml"], "parameters"),
    ("epochs-true", ["run", "epochs_true.yaml"], "train.epochs': Input should be a valid integer"),
    ("lr-nan", ["run", "lr_nan.yaml"], "train.lr': Input should be a finite number"),
    ("even-kernel-one-line", ["run", "even_kernel.yaml"], "kernel sizes must be odd"),
    ("markup-path-[/b]", ["run", "a[/b].yaml"], "a[/b].yaml"),
    ("markup-path-[red]", ["run", "[red]x.yaml"], "[red]x.yaml"),
    ("missing-markup-path", ["run", "c[/i]/nope.yaml"], "c[/i]/nope.yaml"),
    # --set overrides
    ("set-without-equals", ["run", "good.yaml", "--set", "train.epochs"], "key=value"),
    ("set-unknown-key", ["run", "good.yaml", "--set", "train.epocs=2"], "epocs"),
    ("set-unknown-section", ["run", "good.yaml", "--set", "trian.epochs=2"], "trian"),
    ("set-bad-value", ["run", "good.yaml", "--set", "train.epochs=0"], "epochs"),
    ("set-bad-yaml", ["run", "good.yaml", "--set", "train.lr=[0.1"], "train.lr"),
    ("set-bad-choice", ["run", "good.yaml", "--set", "model.activation=swish"], "activation"),
    ("set-folds-too-many", ["run", "good.yaml", "--set", "train.folds=20"], "fold"),
    ("set-dry-run-bad-key", ["run", "good.yaml", "--dry-run", "--set", "x=1"], "x"),
    (
        "set-typo-blames-the-command-line",
        ["run", "good.yaml", "--set", "train.epohcs=2"],
        "--set: unknown key 'train.epohcs'; did you mean 'train.epochs'?",
    ),
    (
        "set-bad-type-blames-the-command-line",
        ["run", "good.yaml", "--set", "train.epochs=abc"],
        "--set: key 'train.epochs'",
    ),
    # run options and stores
    ("run-no-sweep", ["run"], "Missing argument"),
    ("run-unknown-option", ["run", "good.yaml", "--nope"], "--nope"),
    ("run-heartbeat-zero", ["run", "good.yaml", "--heartbeat", "0"], "--heartbeat"),
    ("run-uri-unknown-scheme", ["run", "good.yaml", "--tracking-uri", "foo://x"], "foo://x"),
    ("run-uri-file-store", ["run", "good.yaml", "--tracking-uri", "file:///tmp/x"], "file store"),
    (
        "run-uri-unwritable",
        ["run", "good.yaml", "--tracking-uri", "sqlite:////sys/ferablate/mlflow.db"],
        "/sys/ferablate",
    ),
    (
        "run-uri-sqlite-no-path",
        ["run", "good.yaml", "--tracking-uri", "sqlite://"],
        "three slashes",
    ),
    (
        "run-uri-sqlite-two-slashes",
        ["run", "good.yaml", "--tracking-uri", "sqlite://rel/mlflow.db"],
        "four for an absolute one",
    ),
    ("run-storage-bad-scheme", ["run", "good.yaml", "--storage", "foo://x"], "--storage"),
    # table (read-only: never creates a store)
    ("table-format-xml", ["table", "good.yaml", "--format", "xml"], "--format"),
    ("table-nothing", ["table"], "sweep file or --experiment"),
    ("table-both", ["table", "good.yaml", "--experiment", "e"], "one of the two"),
    ("table-no-store", ["table", "good.yaml"], "no MLflow store"),
    ("table-no-store-experiment", ["table", "--experiment", "e"], "no MLflow store"),
    (
        "table-mistyped-uri",
        ["table", "good.yaml", "--tracking-uri", "sqlite:///mlrun/mlflow.db"],
        "mlrun/mlflow.db",
    ),
    ("table-unknown-scheme", ["table", "--experiment", "e", "--tracking-uri", "foo://x"], "foo"),
    ("table-bad-sweep", ["table", "typo_train.yaml"], "train.epochs"),
    # summary, final, viz, data
    ("summary-unknown-preset", ["summary", "no-such-preset"], "no-such-preset"),
    ("summary-unknown-variant", ["summary", "good.yaml", "--variant", "zzz"], "zzz"),
    ("summary-variant-with-preset", ["summary", "report-model1", "--variant", "a"], "--variant"),
    ("summary-format-xml", ["summary", "good.yaml", "--format", "xml"], "--format"),
    ("summary-folder", ["summary", "./sub"], "sub: a folder, not a sweep file"),
    (
        "summary-out-unwritable",
        ["summary", "report-model1", "--out", "/proc/nope/x.txt"],
        "cannot write --out",
    ),
    ("final-epochs-zero", ["final", "good.yaml", "--epochs", "0"], "--epochs"),
    ("final-unknown-variant", ["final", "good.yaml", "--variant", "zzz"], "zzz"),
    ("final-missing-sweep", ["final", "nope.yaml"], "nope"),
    ("final-bad-set", ["final", "good.yaml", "--set", "train.epocs=1"], "epocs"),
    (
        "final-missing-csv",
        ["final", "good.yaml", "--set", "data.source=fer2013", "--set", "data.path=nope.csv"],
        "nope.csv",
    ),
    ("final-uri-two-slashes", ["final", "good.yaml", "--tracking-uri", "sqlite://x"], "slashes"),
    ("viz-out-is-a-file", ["viz", "0123456789abcdef", "--out", "good.yaml"], "--out good.yaml"),
    ("viz-no-store", ["viz", "0123456789abcdef"], "no MLflow store"),
    ("viz-unknown-figure", ["viz", "good.yaml", "--figures", "nope"], "nope"),
    ("viz-dpi-too-low", ["viz", "good.yaml", "--dpi", "1"], "--dpi"),
    ("data-info-missing", ["data", "info", "nope.csv"], "nope.csv"),
    ("data-info-empty-csv", ["data", "info", "empty.csv"], "empty.csv"),
    ("data-info-header-only", ["data", "info", "header_only.csv"], "header_only.csv"),
    # optuna and workers
    ("optuna-no-search", ["optuna", "good.yaml"], "search"),
    ("optuna-trials-zero", ["optuna", "search.yaml", "--trials", "0"], "--trials"),
    ("optuna-bad-sampler", ["optuna", "search.yaml", "--sampler", "grid"], "--sampler"),
    ("optuna-bad-pruner", ["optuna", "search.yaml", "--pruner", "never"], "--pruner"),
    ("optuna-bad-storage", ["optuna", "search.yaml", "--storage", "foo://x"], "--storage"),
    ("optuna-search-unknown-key", ["optuna", "search_typo.yaml"], "lrr"),
    ("optuna-search-bad-choice", ["optuna", "search_choice.yaml"], "swish"),
    ("optuna-search-bad-range", ["optuna", "search_range.yaml"], "low"),
    ("optuna-best-no-storage", ["optuna", "search.yaml", "--best"], "optuna.db"),
    ("optuna-missing-sweep", ["optuna", "nope.yaml"], "no such sweep file"),
    ("optuna-timeout-negative", ["optuna", "search.yaml", "--timeout", "-5"], "--timeout"),
    ("optuna-max-params-zero", ["optuna", "search.yaml", "--max-params", "0"], "--max-params"),
    (
        "optuna-storage-under-a-file",
        ["optuna", "search.yaml", "--storage", "sqlite:///good.yaml/optuna.db"],
        "cannot make the folder good.yaml",
    ),
    # ui
    ("ui-port-too-high", ["ui", "--port", "99999"], "--port"),
    ("ui-port-too-high-dry-run", ["ui", "--port", "99999", "--dry-run"], "--port"),
    ("ui-port-negative-dry-run", ["ui", "--port", "-1", "--dry-run"], "--port"),
    ("worker-no-storage", ["worker", "--study", "s"], "--storage"),
    (
        "worker-no-study-db",
        ["worker", "--storage", "sqlite:///none/optuna.db", "--study", "s"],
        "none/optuna.db",
    ),
    (
        "worker-max-trials-zero",
        ["worker", "--storage", "sqlite:///x.db", "--study", "s", "--max-trials", "0"],
        "--max-trials",
    ),
    # the root
    ("unknown-command", ["trian"], "trian"),
    ("unknown-root-option", ["--nope"], "--nope"),
]


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    for name, content in FILES.items():
        target = work / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content, encoding="utf-8")
    monkeypatch.chdir(work)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{work / 'mlruns' / 'mlflow.db'}")
    return work


def _tree(root: Path) -> set[Path]:
    return set(root.rglob("*"))


@pytest.mark.parametrize(
    ("argv", "words"), [case[1:] for case in CASES], ids=[case[0] for case in CASES]
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(
    folder: Path, argv: list[str], words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _tree(folder)
    code = run_cli([arg.replace("{tmp}", str(folder)) for arg in argv])
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert words in lines[0], lines[0]
    assert "Traceback" not in err + out
    assert _tree(folder) == before  # no store, no experiment, no Optuna DB, no output file
    assert not Path(os.environ["MLFLOW_TRACKING_URI"].removeprefix("sqlite:///")).exists()


def test_the_table_is_broad() -> None:
    assert len(CASES) >= 50
    assert len({case[0] for case in CASES}) == len(CASES)


def test_help_still_works(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["run", "--help"]) == 0
    assert "SWEEP" in capsys.readouterr().out


def test_ctrl_c_is_one_line_and_exit_130(
    folder: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import ferablate.runner

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(ferablate.runner, "run_sweep", interrupted)
    assert run_cli(["run", "good.yaml", "--no-figures"]) == 130
    assert capsys.readouterr().err.strip().splitlines()[-1] == INTERRUPTED


def test_a_store_folder_that_is_a_file_is_one_line(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (folder / "mlruns").write_text("not a folder")  # the default store cannot be made here
    assert run_cli(["run", "good.yaml", "--no-figures"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: cannot write the MLflow store's folder")


def test_an_unreadable_sweep_file_is_one_line(
    folder: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    read_text = Path.read_text

    def denied(self: Path, *args: object, **kwargs: object) -> str:
        if self.name == "good.yaml":  # chmod 000 (root reads everything, so simulated)
            raise PermissionError(13, "Permission denied", str(self))
        return read_text(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "read_text", denied)
    assert run_cli(["run", "good.yaml"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line == "error: good.yaml: cannot read the sweep file (Permission denied)"
    assert not (folder / "mlruns").exists()


def test_a_command_leaves_the_logger_as_it_found_it(folder: Path) -> None:
    import logging

    logger = logging.getLogger("ferablate")
    before = (logger.handlers[:], logger.level, logger.propagate)
    assert run_cli(["--verbose", "run", "nope.yaml"]) == 2
    # an in-process call (a test under pytest 9's caplog, a notebook) sees each record once
    assert (logger.handlers[:], logger.level, logger.propagate) == before


def test_ui_on_a_busy_port_is_one_line_before_the_store_is_touched(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    before = _tree(folder)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert run_cli(["ui", "--port", str(port)]) == 2
    out, err = capsys.readouterr()
    (line,) = err.strip().splitlines()
    assert line.startswith(f"error: port {port} on 127.0.0.1 is in use") and not out
    assert _tree(folder) == before  # no store, no folder


def test_final_without_a_test_split_fails_before_the_trial_starts(
    folder: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FERABLATE_CACHE", str(folder.parent / "cache"))
    pixels = " ".join(["128"] * 48 * 48)
    rows = "".join(f"{label % 7},{pixels},Training\n" for label in range(14))
    (folder / "train_only.csv").write_text("emotion,pixels,Usage\n" + rows)
    before = _tree(folder)
    argv = ["final", "good.yaml", "--set", "data.source=fer2013"]
    assert run_cli([*argv, "--set", "data.path=train_only.csv", "--no-figures"]) == 2
    out, err = capsys.readouterr()
    (line,) = err.strip().splitlines()
    assert line.startswith("error: ") and "no test faces" in line
    assert "start" not in out + err  # nothing announced before the error
    assert _tree(folder) == before  # no store


def test_viz_of_a_fold_run_names_its_trial_run(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mlflow import MlflowClient

    from ferablate.tracking import TAG

    (folder / "mlruns").mkdir()
    client = MlflowClient(os.environ["MLFLOW_TRACKING_URI"])
    experiment = client.create_experiment("good")
    trial = client.create_run(experiment, tags={TAG.ROLE: "trial"}).info.run_id
    fold = client.create_run(experiment, tags={TAG.ROLE: "fold", TAG.PARENT: trial}).info.run_id
    capsys.readouterr()  # MLflow's own lines while the store was made
    assert run_cli(["viz", fold]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line == (
        f"error: run {fold} is a fold run of trial run {trial}; figures are drawn per trial: "
        f"ferablate viz {trial}"
    )
    assert not (folder / "figures").exists()
