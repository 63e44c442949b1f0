import numpy as np
import pytest

from finesift.checks._groups import component_partner, first_ids, positions_of


def test_first_ids_number_keys_in_order_of_first_appearance():
    ids, keys = first_ids(np.array([9, 4, 9, 7, 4], dtype=np.uint64))
    assert ids.tolist() == [0, 1, 0, 2, 1]
    assert keys.tolist() == [9, 4, 7]


def test_positions_of_rows_in_a_state_whatever_their_order():
    assert positions_of(np.array([5, 3]), np.array([3, 4, 5])).tolist() == [2, 0]
    assert positions_of(np.array([3, 7, 5]), np.array([7, 3, 5])).tolist() == [1, 0, 2]
    with pytest.raises(RuntimeError):
        positions_of(np.array([6]), np.array([7, 3, 5]))


def test_component_partner_points_every_member_at_its_lowest_rank_node():
    # components {0, 1, 3} and {2, 4}; node 5 alone. Ranks make node 3 and node 4 the kept members
    rank = np.array([10, 11, 12, 2, 1, 0])
    partner = component_partner(rank, np.array([0, 1, 2]), np.array([1, 3, 4]))
    assert partner.tolist() == [3, 3, 4, -1, -1, -1]
