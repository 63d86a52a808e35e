from app.domain.codes import ALPHABET, is_display_code, new_display_code
from app.domain.reads import normalize_tag
from app.services.demo import demo_participants


def test_unassigned_tags_get_no_participant() -> None:
    tags = [str(n) for n in range(1, 101)] + ["guntime", "0042"]
    people = demo_participants(tags, unassigned_every=25)
    chips = {p.chip_code for p in people}
    assert "guntime" not in chips
    assert len(chips) == 96  # 100 distinct tags ('0042' is '42'), every 25th left out
    assert all(p.first_name and p.last_name for p in people)


def test_demo_names_are_stable() -> None:
    assert demo_participants(["7"]) == demo_participants(["007"])


def test_tag_normalisation() -> None:
    assert normalize_tag("009573") == normalize_tag("9573") == "9573"
    assert normalize_tag("000") == "0"
    assert normalize_tag("") == ""
    assert normalize_tag("A12") == "A12"


def test_display_codes() -> None:
    codes = {new_display_code() for _ in range(200)}
    assert len(codes) == 200
    assert all(is_display_code(c) for c in codes)
    assert not is_display_code("abc") and not is_display_code("ABCDEFGH")
    assert not set("01ilo") & set(ALPHABET)


def test_marker_chips_are_never_given_a_name() -> None:
    chips = {p.chip_code for p in demo_participants(["99995", "99998", "7544"], unassigned_every=0)}
    assert chips == {"7544"}
