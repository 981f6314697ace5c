from playground.core.units import format_eta


def test_format_eta():
    assert format_eta(0) == "0:00"
    assert format_eta(75.4) == "1:15"
    assert format_eta(3725) == "1:02:05"
    assert format_eta(-3) == "0:00"
