from app.domain.chip_file import ChipBib, read_chip_file
from app.domain.participants_in import RowError


def test_pairs_with_a_header_in_either_order_and_any_separator() -> None:
    assert list(read_chip_file(["\ufeffBib;Chip\n", "42;009573\n", "43; 0044\n"])) == [
        ChipBib("9573", "42"),
        ChipBib("44", "43"),
    ]
    assert list(read_chip_file(["tag,bib\n", "009573,0042\n"])) == [ChipBib("9573", "0042")]
    # No header: chip first, bib second; the bib is kept as written.
    assert list(read_chip_file(["009573\t0042\n"])) == [ChipBib("9573", "0042")]


def test_bad_lines_are_reported_and_the_rest_still_counts() -> None:
    lines = [
        "chip,bib\n",
        "1001,1\n",
        "\n",
        "1002\n",
        ",3\n",
        "1004,\n",
        "1001,1\n",
        "0001001,9\n",
        "1005,5\n",
    ]
    assert list(read_chip_file(lines)) == [
        ChipBib("1001", "1"),
        RowError(4, "expected a chip and a bib"),
        RowError(5, "missing chip"),
        RowError(6, "chip 1004 has no bib"),
        # The same pair twice is fine; the same chip on another bib is not.
        RowError(8, "chip 0001001 is on bib 1 at line 2"),
        ChipBib("1005", "5"),
    ]
