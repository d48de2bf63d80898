"""Records (python/nanobragg_rs/_records.py) are dataclasses to their users, and the strict
number reader's scanner reads exactly what its regular expression read."""

from __future__ import annotations

import dataclasses
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nanobragg_rs import Config
from nanobragg_rs import values
from nanobragg_rs import _records
from nanobragg_rs._records import field, field_names, record, replace
from nanobragg_rs.args import Run
from nanobragg_rs.simulate import Stats


@record
class Point:
    x: float
    y: float = 2.0
    tags: list[str] = field(default_factory=list)


@record(frozen=True)
class Frozen:
    a: int
    b: str = "b"


def test_a_record_is_a_dataclass_to_its_users() -> None:
    p = Point(1.0)
    assert dataclasses.is_dataclass(p) and dataclasses.is_dataclass(Point)
    assert [f.name for f in dataclasses.fields(p)] == ["x", "y", "tags"] == list(field_names(Point))
    assert dataclasses.asdict(p) == {"x": 1.0, "y": 2.0, "tags": []}
    q = dataclasses.replace(p, y=5.0)
    assert (q.x, q.y) == (1.0, 5.0) and q == Point(1.0, 5.0) and q != p
    assert replace(p, x=3.0) == Point(3.0)
    assert repr(p) == "Point(x=1.0, y=2.0, tags=[])"
    assert Point(0.0).tags is not Point(0.0).tags, "a default factory runs per instance"
    with pytest.raises(TypeError):
        Point()  # type: ignore[call-arg]


def test_a_frozen_record_refuses_assignment_and_hashes() -> None:
    f = Frozen(1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        f.a = 2  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        del f.b
    assert hash(f) == hash(Frozen(1, "b")) and f == Frozen(1)
    assert dataclasses.replace(f, b="c") == Frozen(1, "c")


def test_configuration_records_keep_their_dataclass_fields() -> None:
    cfg = Config()
    names = [f.name for f in dataclasses.fields(cfg.beam)]
    assert "wavelength_A" in names and names == list(field_names(cfg.beam))
    assert dataclasses.replace(cfg.detector, distance_mm=250.0).distance_mm == 250.0
    assert dataclasses.asdict(cfg)["crystal"]["n_cells"] == (1, 1, 1)
    assert [f.name for f in dataclasses.fields(Run)][:2] == ["config", "output"]
    assert [f.name for f in dataclasses.fields(Stats)][0] == "max_I"
    with pytest.raises(AttributeError, match="did you mean 'distance_mm'"):
        cfg.detector.distance = 300  # type: ignore[attr-defined]


_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)


@given(st.text(alphabet="0123456789+-.eExX_ ١p", max_size=8))
def test_the_decimal_scanner_reads_what_the_pattern_reads(token: str) -> None:
    assert values._is_decimal(token) == bool(_DECIMAL.fullmatch(token))


def _calls(cls: type) -> list[object]:
    """What each of a set of calls gives: the instance's fields, or the error's type."""
    out: list[object] = []
    for args, kwargs in [((1,), {}), ((1, 2.5), {}), ((), {"x": 3}), ((1,), {"tags": ["t"]}), ((), {}),
                         ((1, 2, [], 4), {}), ((1,), {"x": 2}), ((1,), {"z": 0}), ((), {"y": 1.0})]:
        try:
            obj = cls(*args, **kwargs)
        except TypeError:
            out.append(TypeError)
        else:
            out.append((obj.x, obj.y, obj.tags))
    return out


@pytest.mark.parametrize("frozen", [False, True])
def test_the_first_and_the_compiled_init_agree(frozen: bool) -> None:
    """A record class binds its first instances generically and later ones with a compiled
    __init__; both take the same arguments, fill the same defaults and refuse the same calls."""

    @record(frozen=frozen)
    class P:
        x: int
        y: float = 2.0
        tags: list[str] = field(default_factory=list)

    first_init = P.__init__
    before = _calls(P)
    assert TypeError in before and (1, 2.0, []) in before
    while P.__init__ is first_init:
        P(0)
    assert _calls(P) == before
    a, b = P(0), P(0)
    assert a.tags is not b.tags, "a default factory runs per instance"
    if frozen:
        with pytest.raises(dataclasses.FrozenInstanceError):
            a.x = 1  # type: ignore[misc]


def test_a_class_made_a_few_times_is_never_compiled() -> None:
    @record
    class Few:
        a: int = 0

    first_init = Few.__init__
    for _ in range(_records._COMPILE_AFTER - 1):
        Few()
    assert Few.__init__ is first_init
    Few()
    assert Few.__init__ is not first_init


def test_the_first_init_goes_through_setattr() -> None:
    """A record's own __setattr__ (a configuration section refusing unknown names, checking
    types) sees every field the first __init__ sets, as with the compiled one."""
    seen: list[str] = []

    @record
    class Watched:
        a: int = 1
        b: int = 2

        def __setattr__(self, name: str, value: object) -> None:
            seen.append(name)
            object.__setattr__(self, name, value)

    Watched(b=3)
    assert seen == ["a", "b"]
