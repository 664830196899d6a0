"""The text part's wrapper: the fast copy gives what textwrap gives, line for line."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from tindak.mailtext import tidy_text, wrap, wrap_reference

# Words as mail has them (letters, digits, punctuation, hyphens, URLs, non-ASCII, a
# no-break space), runs of spaces between them, and now and then a tab.
WORD = st.text(st.sampled_from("abcXYZ019-–.,:;/?=&…éü\u00a0"), min_size=1, max_size=30)
GAP = st.sampled_from([" ", " ", " ", "  ", "   ", "\t", " \t "])
LINE = st.builds(lambda lead, parts: lead + "".join(parts), st.sampled_from(["", " ", "  ", "* "]),
                 st.lists(st.tuples(WORD, GAP).map("".join), min_size=1, max_size=40))
HANG = st.sampled_from(["", "  ", "    ", "      "])


@settings(max_examples=500, deadline=None)
@given(line=LINE, width=st.integers(min_value=12, max_value=100), hang=HANG)
@example(line="* " + "x" * 90 + " tail", width=76, hang="  ")
@example(line="   ", width=12, hang="  ")
@example(line="a " * 60, width=76, hang="")
def test_the_fast_wrap_is_textwraps(line: str, width: int, hang: str) -> None:
    assert wrap(line, width, hang) == wrap_reference(line, width, hang)


def test_tidy_text_wraps_long_lines_with_a_hang_and_folds_blank_lines() -> None:
    text = "Halo,\n\n\n\n* " + " ".join(["kata"] * 30) + "\n  \nakhir  \n"
    got = tidy_text(text, width=40)
    assert "\n\n\n" not in got and got.endswith("akhir\n")
    assert all(len(line) <= 40 for line in got.splitlines())
    assert got.splitlines()[3].startswith("  kata")  # the item's hang
