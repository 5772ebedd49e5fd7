"""The document's shortcut for small plain dicts gives exactly what the
bounded walk gives, budget cuts included."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from dispatch_indexer.read.render import Renderer, _Json, plain_mapping

_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.text(max_size=300),
    st.floats(),
)
_KEYS = st.one_of(st.text(max_size=300), st.integers())


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(_KEYS, _SCALARS, max_size=20), st.integers(min_value=1, max_value=600))
def test_plain_mapping_is_the_walk(value: dict, chars: int) -> None:
    walked = _Json(Renderer(chars, chars), chars).mapping(value, 0)
    plain = plain_mapping(value, chars)
    if plain is not None:
        assert plain == walked
        assert list(plain) == list(walked)


def test_a_node_s_metadata_and_a_link_take_the_shortcut() -> None:
    assert plain_mapping({"executor": "dask"}, 256) == {"executor": "dask"}
    link = {"edge_name": "x", "param_type": "arg", "arg_index": 0}
    assert plain_mapping(link, 256) == link
    assert plain_mapping({"x": 1.5}, 256) is None  # floats take the walk
