"""Reading LASERNet CSVs and snapping them to a grid: errors, row order, extra columns, off-grid points."""

import numpy as np
import pytest
from fields_helpers import SPACING, grid_fields, write_step_csv

from simrnn.errors import UserInputError
from simrnn.fields.pointcloud import find_step_files, read_point_cloud, snap_to_grid

SHAPE = (5, 4, 3)


def grid_of(path, **kwargs):
    return snap_to_grid(read_point_cloud(path), **kwargs)


@pytest.mark.parametrize("order", ["vtk", "c", "shuffled"])
def test_any_row_order_gives_the_same_grid(tmp_path, order):
    step = grid_of(write_step_csv(tmp_path / "a_3.csv", SHAPE, 3, order=order))
    expected = grid_fields(SHAPE, 3)
    np.testing.assert_array_equal(step.temperature, expected["T"].astype(np.float32))
    np.testing.assert_array_equal(step.ori_inds, expected["ori"])
    np.testing.assert_allclose(step.ipf, expected["ipf"], atol=1e-3, rtol=1e-3)  # float16
    np.testing.assert_allclose(step.grid.x, np.arange(5) * SPACING)
    assert step.mask.all() and step.grid.shape == SHAPE


def test_extra_columns_are_ignored(tmp_path):
    plain = grid_of(write_step_csv(tmp_path / "a_1.csv", SHAPE, 1))
    extra = grid_of(write_step_csv(tmp_path / "b_1.csv", SHAPE, 1, extra=True))
    np.testing.assert_array_equal(plain.temperature, extra.temperature)
    np.testing.assert_array_equal(plain.ipf, extra.ipf)


def test_missing_points_are_masked_not_invented(tmp_path):
    step = grid_of(write_step_csv(tmp_path / "a_2.csv", SHAPE, 2, order="c", drop=2))
    assert step.mask.sum() == 58 and not step.mask[0, 0, 0] and not step.mask[0, 0, 1]
    assert step.temperature[0, 0, 0] == 0 and step.ori_inds[0, 0, 0] == -1


def test_downsample_keeps_every_second_node(tmp_path):
    step = grid_of(write_step_csv(tmp_path / "a_1.csv", SHAPE, 1, order="shuffled"), downsample=2)
    assert step.grid.shape == (3, 2, 2)
    np.testing.assert_array_equal(step.temperature, grid_fields(SHAPE, 1)["T"][::2, ::2, ::2])


def test_missing_column_is_named(tmp_path):
    path = write_step_csv(tmp_path / "a_1.csv", SHAPE, 1)
    text = path.read_text().replace('"ipf_y:1"', '"ipf_y_1"')
    path.write_text(text)
    with pytest.raises(UserInputError, match=r"a_1.csv: missing column 'ipf_y:1'"):
        read_point_cloud(path)


def test_non_numeric_value_names_file_line_and_column(tmp_path):
    path = write_step_csv(tmp_path / "a_1.csv", SHAPE, 1)
    lines = path.read_text().splitlines()
    fields = lines[7].split(",")
    fields[3] = "hot"
    lines[7] = ",".join(fields)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(UserInputError, match=r"a_1.csv, line 8: value 'hot' in column 'T' is not a number"):
        read_point_cloud(path)


def test_nan_temperature_names_the_line(tmp_path):
    path = write_step_csv(tmp_path / "a_1.csv", SHAPE, 1)
    lines = path.read_text().splitlines()
    fields = lines[4].split(",")
    fields[3] = "nan"
    lines[4] = ",".join(fields)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(UserInputError, match=r"a_1.csv, line 5: NaN temperature in column 'T' \(1 such rows"):
        read_point_cloud(path)


def test_off_grid_points_are_counted(tmp_path):
    path = write_step_csv(tmp_path / "a_1.csv", SHAPE, 1)
    lines = path.read_text().splitlines()
    for n in (10, 20):  # move two points by 0.3 spacings in x
        fields = lines[n].split(",")
        fields[0] = repr(float(fields[0]) + 0.3 * SPACING)
        lines[n] = ",".join(fields)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(UserInputError, match=r"2 of 60 points lie off the regular grid.*line 11 with x"):
        grid_of(path)
    assert grid_of(path, tolerance=0.4).mask.all()  # within a looser tolerance they snap


def test_duplicated_node_is_an_error(tmp_path):
    path = write_step_csv(tmp_path / "a_1.csv", SHAPE, 1)
    lines = path.read_text().splitlines()
    path.write_text("\n".join([*lines, lines[5]]) + "\n")
    with pytest.raises(UserInputError, match="1 points repeat a grid node"):
        grid_of(path)


def test_files_are_ordered_by_trailing_integer(tmp_path):
    for k in (10, 9, 1, 100):
        (tmp_path / f"Alldata_withpoints_{k}.csv").write_text("x\n")
    assert [k for k, _ in find_step_files(tmp_path)] == [1, 9, 10, 100]


def test_no_csv_found(tmp_path):
    with pytest.raises(UserInputError, match=r"no CSV found matching Alldata_withpoints_\*.csv"):
        find_step_files(tmp_path)
    with pytest.raises(UserInputError, match="directory not found"):
        find_step_files(tmp_path / "nope")


def test_utf8_byte_order_mark_and_quoted_header_are_read(tmp_path):
    path = write_step_csv(tmp_path / "a_2.csv", SHAPE, 2)
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    step = grid_of(path)
    np.testing.assert_array_equal(step.temperature, grid_fields(SHAPE, 2)["T"].astype(np.float32))


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda lines: lines[:1], "holds a header but no data rows"),
        (lambda lines: [*lines, lines[-1][:20]], r"line 62: 4 fields where the header has 14"),
        (lambda lines: [*lines[:5], lines[5] + ",9", *lines[6:]], r"line 6: 15 fields where the header has 14"),
    ],
    ids=["header-only", "truncated-last-line", "extra-field"],
)
def test_malformed_rows_name_the_line(tmp_path, edit, message):
    path = write_step_csv(tmp_path / "a_1.csv", SHAPE, 1)
    path.write_text("\n".join(edit(path.read_text().splitlines())) + "\n")
    with pytest.raises(UserInputError, match=message):
        read_point_cloud(path)


def test_a_directory_or_absurd_step_number_is_refused(tmp_path):
    (tmp_path / "Alldata_withpoints_3.csv").mkdir()
    with pytest.raises(UserInputError, match="Alldata_withpoints_3.csv: is not a regular file"):
        find_step_files(tmp_path)
    (tmp_path / "Alldata_withpoints_3.csv").rmdir()
    (tmp_path / "Alldata_withpoints_99999999999999999999.csv").write_text("x\n")
    with pytest.raises(UserInputError, match="time-step number 99999999999999999999 is larger than 9223372036854775807"):
        find_step_files(tmp_path)
