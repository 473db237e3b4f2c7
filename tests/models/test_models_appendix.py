"""The report presets reproduce the appendix (Figure 7) layer tables row for row."""

from __future__ import annotations

import pytest

from ferablate.models import count_parameters, create_model, layer_table

# Copied from the appendix of the design report (Figure 7): (layer, output shape, params).
APPENDIX_MODEL1 = (
    ("Conv2d-1", (-1, 8, 48, 48), 80),
    ("BatchNorm2d-2", (-1, 8, 48, 48), 16),
    ("ELU-3", (-1, 8, 48, 48), 0),
    ("Conv2d-4", (-1, 16, 48, 48), 1_168),
    ("BatchNorm2d-5", (-1, 16, 48, 48), 32),
    ("ELU-6", (-1, 16, 48, 48), 0),
    ("MaxPool2d-7", (-1, 16, 24, 24), 0),
    ("Dropout-8", (-1, 16, 24, 24), 0),
    ("Conv2d-9", (-1, 32, 24, 24), 4_640),
    ("BatchNorm2d-10", (-1, 32, 24, 24), 64),
    ("ELU-11", (-1, 32, 24, 24), 0),
    ("MaxPool2d-12", (-1, 32, 12, 12), 0),
    ("Dropout-13", (-1, 32, 12, 12), 0),
    ("Conv2d-14", (-1, 64, 12, 12), 18_496),
    ("BatchNorm2d-15", (-1, 64, 12, 12), 128),
    ("ELU-16", (-1, 64, 12, 12), 0),
    ("Dropout-17", (-1, 64, 12, 12), 0),
    ("Conv2d-18", (-1, 128, 12, 12), 73_856),
    ("BatchNorm2d-19", (-1, 128, 12, 12), 256),
    ("ELU-20", (-1, 128, 12, 12), 0),
    ("MaxPool2d-21", (-1, 128, 6, 6), 0),
    ("Dropout-22", (-1, 128, 6, 6), 0),
    ("Conv2d-23", (-1, 256, 6, 6), 295_168),
    ("BatchNorm2d-24", (-1, 256, 6, 6), 512),
    ("ELU-25", (-1, 256, 6, 6), 0),
    ("MaxPool2d-26", (-1, 256, 3, 3), 0),
    ("Dropout-27", (-1, 256, 3, 3), 0),
    ("Flatten-28", (-1, 2304), 0),
    ("Linear-29", (-1, 128), 295_040),
    ("ELU-30", (-1, 128), 0),
    ("Linear-31", (-1, 64), 8_256),
    ("ELU-32", (-1, 64), 0),
    ("Linear-33", (-1, 32), 2_080),
    ("ELU-34", (-1, 32), 0),
    ("Linear-35", (-1, 16), 528),
    ("ELU-36", (-1, 16), 0),
    ("Linear-37", (-1, 7), 119),
)

APPENDIX_MODEL2 = (
    ("Conv2d-1", (-1, 8, 48, 48), 400),
    ("BatchNorm2d-2", (-1, 8, 48, 48), 16),
    ("ELU-3", (-1, 8, 48, 48), 0),
    ("MaxPool2d-4", (-1, 8, 24, 24), 0),
    ("Conv2d-5", (-1, 16, 24, 24), 144),
    ("ELU-6", (-1, 16, 24, 24), 0),
    ("Conv2d-7", (-1, 16, 24, 24), 144),
    ("ELU-8", (-1, 16, 24, 24), 0),
    ("Conv2d-9", (-1, 32, 24, 24), 4_640),
    ("ELU-10", (-1, 32, 24, 24), 0),
    ("Conv2d-11", (-1, 16, 24, 24), 144),
    ("ELU-12", (-1, 16, 24, 24), 0),
    ("Conv2d-13", (-1, 32, 24, 24), 12_832),
    ("ELU-14", (-1, 32, 24, 24), 0),
    ("MaxPool2d-15", (-1, 8, 24, 24), 0),
    ("Conv2d-16", (-1, 16, 24, 24), 144),
    ("ELU-17", (-1, 16, 24, 24), 0),
    ("Conv2d-18", (-1, 32, 24, 24), 3_104),
    ("BatchNorm2d-19", (-1, 32, 24, 24), 64),
    ("ELU-20", (-1, 32, 24, 24), 0),
    ("Dropout-21", (-1, 32, 24, 24), 0),
    ("Conv2d-22", (-1, 64, 24, 24), 2_112),
    ("ELU-23", (-1, 64, 24, 24), 0),
    ("Conv2d-24", (-1, 64, 24, 24), 2_112),
    ("ELU-25", (-1, 64, 24, 24), 0),
    ("Conv2d-26", (-1, 128, 24, 24), 73_856),
    ("ELU-27", (-1, 128, 24, 24), 0),
    ("Conv2d-28", (-1, 64, 24, 24), 2_112),
    ("ELU-29", (-1, 64, 24, 24), 0),
    ("Conv2d-30", (-1, 128, 24, 24), 204_928),
    ("ELU-31", (-1, 128, 24, 24), 0),
    ("MaxPool2d-32", (-1, 32, 24, 24), 0),
    ("Conv2d-33", (-1, 64, 24, 24), 2_112),
    ("ELU-34", (-1, 64, 24, 24), 0),
    ("Conv2d-35", (-1, 64, 24, 24), 24_640),
    ("BatchNorm2d-36", (-1, 64, 24, 24), 128),
    ("ELU-37", (-1, 64, 24, 24), 0),
    ("MaxPool2d-38", (-1, 64, 12, 12), 0),
    ("Dropout-39", (-1, 64, 12, 12), 0),
    ("Conv2d-40", (-1, 128, 12, 12), 8_320),
    ("ELU-41", (-1, 128, 12, 12), 0),
    ("Conv2d-42", (-1, 128, 12, 12), 8_320),
    ("ELU-43", (-1, 128, 12, 12), 0),
    ("Conv2d-44", (-1, 256, 12, 12), 295_168),
    ("ELU-45", (-1, 256, 12, 12), 0),
    ("Conv2d-46", (-1, 128, 12, 12), 8_320),
    ("ELU-47", (-1, 128, 12, 12), 0),
    ("Conv2d-48", (-1, 256, 12, 12), 819_456),
    ("ELU-49", (-1, 256, 12, 12), 0),
    ("MaxPool2d-50", (-1, 64, 12, 12), 0),
    ("Conv2d-51", (-1, 128, 12, 12), 8_320),
    ("ELU-52", (-1, 128, 12, 12), 0),
    ("Conv2d-53", (-1, 256, 12, 12), 196_864),
    ("BatchNorm2d-54", (-1, 256, 12, 12), 512),
    ("ELU-55", (-1, 256, 12, 12), 0),
    ("MaxPool2d-56", (-1, 256, 6, 6), 0),
    ("Conv2d-57", (-1, 64, 6, 6), 16_448),
    ("BatchNorm2d-58", (-1, 64, 6, 6), 128),
    ("ELU-59", (-1, 64, 6, 6), 0),
    ("MaxPool2d-60", (-1, 64, 3, 3), 0),
    ("Flatten-61", (-1, 576), 0),
    ("Linear-62", (-1, 32), 18_464),
    ("ELU-63", (-1, 32), 0),
    ("Dropout-64", (-1, 32), 0),
    ("Linear-65", (-1, 7), 231),
)

APPENDIX = {
    "report-model1": (APPENDIX_MODEL1, 700_439),
    "report-model2": (APPENDIX_MODEL2, 1_714_183),
}


@pytest.mark.parametrize("preset", sorted(APPENDIX))
def test_layer_table_matches_appendix_row_for_row(preset: str) -> None:
    expected_rows, expected_total = APPENDIX[preset]
    table = layer_table(preset)
    actual = [(row.name, row.output_shape, row.params) for row in table.rows]
    assert len(actual) == len(expected_rows)
    for position, (got, want) in enumerate(zip(actual, expected_rows, strict=True), start=1):
        assert got == want, f"row {position}"
    assert table.total_params == table.trainable_params == expected_total
    assert sum(row.params for row in table.rows) == expected_total


@pytest.mark.parametrize("preset", sorted(APPENDIX))
def test_preset_parameter_count(preset: str) -> None:
    assert count_parameters(create_model(preset)) == APPENDIX[preset][1]


def test_render_text_shows_rows_and_totals() -> None:
    text = layer_table("report-model1").render_text()
    assert "Conv2d-1" in text
    assert "[-1, 2304]" in text
    assert "295,040" in text
    assert "Total params: 700,439" in text
    assert "Non-trainable params: 0" in text
