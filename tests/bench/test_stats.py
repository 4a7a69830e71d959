"""The benchmark's pure helpers: order statistics and WebSocket frame-header sizes."""

from __future__ import annotations

import pytest

from conformance.bench.client import frame_header_size
from conformance.bench.stats import median, percentile, slope, summary

__all__: list[str] = []


def test_median_of_odd_and_even_samples() -> None:
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert median([4.0, 1.0, 3.0, 2.0]) == 2.5


def test_nearest_rank_percentile() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile([7.0], 99) == 7.0


def test_statistics_of_an_empty_sample_raise() -> None:
    with pytest.raises(ValueError, match="empty sample"):
        median([])
    with pytest.raises(ValueError, match="empty sample"):
        percentile([], 50)


def test_slope_of_a_line_is_its_gradient() -> None:
    xs = [1.0, 2.0, 3.0, 4.0]
    assert slope(xs, [2 * x + 5 for x in xs]) == pytest.approx(2.0)
    assert slope(xs, [7.0, 7.0, 7.0, 7.0]) == pytest.approx(0.0)


def test_summary_names_its_figures() -> None:
    assert summary([1.0, 2.0, 3.0]) == {"n": 3, "p50": 2.0, "p99": 3.0, "min": 1.0, "max": 3.0}


@pytest.mark.parametrize(
    ("payload", "header"),
    [(0, 6), (125, 6), (126, 8), (65535, 8), (65536, 14)],
)
def test_client_frame_header_follows_rfc6455_length_encoding(payload: int, header: int) -> None:
    # RFC 6455 5.2: 7-bit length, 16-bit extended from 126, 64-bit from 65536; plus the mask.
    assert frame_header_size(payload) == header
