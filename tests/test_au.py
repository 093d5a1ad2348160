import numpy as np
import pytest

from aufera import au


def test_au_order_and_keys():
    assert au.AU_NUMBERS == (1, 4, 6, 7, 10, 12, 14, 15, 17, 23)
    assert au.AU_KEYS == ("AU1", "AU4", "AU6", "AU7", "AU10", "AU12", "AU14", "AU15", "AU17", "AU23")
    assert au.NUM_AUS == 10
    assert au.ACTION_UNITS[5].name == "Lip Corner Puller"
    for unit in au.ACTION_UNITS:
        x0, y0, x1, y1 = unit.box
        assert x0 < x1 and y0 < y1


def test_fera_codes_map_to_label_encoding():
    codes = np.array([[1, 0, 9, 5, -1, np.nan, 1.0, 0.0, 2, 9]])
    expected = np.array([[1, -1, 0, 0, 0, 0, 1, -1, 0, 0]], dtype=np.int8)
    np.testing.assert_array_equal(au.encode_fera_occurrence(codes), expected)
    assert au.encode_fera_occurrence(codes).dtype == np.int8


def test_label_encoding_round_trip_and_bad_labels():
    labels = np.array([1, -1, 0, 1, 0], dtype=np.int8)
    np.testing.assert_array_equal(au.decode_to_fera_occurrence(labels), [1, 0, 9, 1, 9])
    np.testing.assert_array_equal(au.encode_fera_occurrence(au.decode_to_fera_occurrence(labels)), labels)
    with pytest.raises(ValueError, match="Received"):
        au.decode_to_fera_occurrence(np.array([2]))


def test_view_numbering():
    views = au.VIEWS
    assert [v.number for v in views] == list(range(1, 10))
    assert [v.index for v in views] == list(range(9))
    assert (views[4].yaw, views[4].pitch) == (0.0, 0.0)
    assert (views[0].yaw, views[0].pitch) == (-40.0, -20.0)
    assert (views[2].yaw, views[2].pitch) == (40.0, -20.0)
    assert (views[8].yaw, views[8].pitch) == (40.0, 20.0)
    # view number = 1 + 3 * pitch index + yaw index
    grid = au.view_grid((-10, 0, 10), (-5, 0, 5))
    assert grid[5].number == 6 and (grid[5].yaw, grid[5].pitch) == (10.0, 0.0)
    with pytest.raises(ValueError, match="3 yaws"):
        au.view_grid((0, 1), (0, 1, 2))
