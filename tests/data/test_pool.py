"""The pool source: members' recordings as one dataset; bad members named by index."""

import pytest
from pydantic import ValidationError

from bench.data.pool import PoolParams, PoolSource
from bench.errors import DataError


def test_pool_concatenates_selected_sessions(tiny_folder, tmp_path):
    params = PoolParams(members=[{"source": "hdf5", "params": {"path": str(tiny_folder)}, "sessions": [1]},
                                 {"source": "hdf5", "params": {"path": str(tiny_folder)}, "sessions": [0]}])
    files = PoolSource(params, cache_dir=tmp_path).materialize(progress=False)
    assert [f.stem for f in files] == ["tiny_1", "tiny_0"]


@pytest.mark.parametrize("member, message", [
    ({"source": "nosuch"}, "members\\[0\\].source"),
    ({"source": "hdf5", "params": {"pth": "x"}}, "members\\[0\\].params"),
    ({"source": "pool", "params": {"members": []}}, "cannot contain a pool"),
])
def test_bad_members_are_named(member, message):
    with pytest.raises(ValidationError, match=message):
        PoolParams(members=[member])


def test_out_of_range_sessions_and_duplicates_are_refused(tiny_folder, tmp_path):
    bad = PoolParams(members=[{"source": "hdf5", "params": {"path": str(tiny_folder)}, "sessions": [5]}])
    with pytest.raises(DataError, match="members\\[0\\].sessions.*2 recording"):
        PoolSource(bad, cache_dir=tmp_path).materialize(progress=False)
    twice = PoolParams(members=[{"source": "hdf5", "params": {"path": str(tiny_folder)}}] * 2)
    with pytest.raises(DataError, match="twice"):
        PoolSource(twice, cache_dir=tmp_path).materialize(progress=False)
