"""Tindak's flows record their parameters without FastAPI's encoder (its import costs every
`tindak run`): what they record must be what Prefect's own method records."""

from __future__ import annotations

from datetime import date

from hypothesis import given
from hypothesis import strategies as st
from prefect import Flow

from flows.daily import daily_followup
from flows.digest import weekly_digest
from flows.flow import TindakFlow

ZONES = st.lists(st.sampled_from(["Asia/Jakarta", "Asia/Makassar", "Asia/Jayapura"]),
                 max_size=3)


@given(as_of=st.none() | st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 12, 31)),
       timezones=st.none() | ZONES, deliver=st.booleans())
def test_the_parameters_recorded_are_prefects(as_of, timezones, deliver):
    for f in (daily_followup, weekly_digest):
        params = {"as_of": as_of, "timezones": timezones}
        if f is daily_followup:
            params["deliver"] = deliver
        assert f.serialize_parameters(params) == Flow.serialize_parameters(f, params)


def test_a_value_pydantic_cannot_write_is_left_to_prefect():
    class Odd:
        pass

    f = TindakFlow(fn=lambda x: x, name="odd")
    assert f.serialize_parameters({"x": Odd()}) == Flow.serialize_parameters(f, {"x": Odd()})


def test_the_flows_are_prefect_flows_under_their_names():
    assert isinstance(daily_followup, Flow) and daily_followup.name == "daily-follow-up"
    assert isinstance(weekly_digest, Flow) and weekly_digest.name == "weekly-digest"
