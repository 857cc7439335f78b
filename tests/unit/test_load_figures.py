"""The recovery figures of a load: longest stall and time back to full throughput."""

from ledgerlake.network.load import VALID, LoadResult, Outcome


def _result(commit_times, end):
    outcomes = [Outcome(key=str(i), started=t - 0.1, finished=t, code=VALID)
                for i, t in enumerate(commit_times)]
    return LoadResult(outcomes=outcomes, started=0.0, ended=end)


def test_stall_and_recovery_are_measured_from_the_fault():
    # 10 tx/s until 5.0, nothing until 8.0, then 10 tx/s again until 12.0
    times = [i / 10 for i in range(1, 50)] + [8 + i / 10 for i in range(0, 40)]
    result = _result(times, 12.0)
    assert abs(result.longest_stall(after=5.0) - 3.0) < 1e-6   # from the fault to 8.0
    assert result.stall_end(5.0) == 8.0
    assert abs(result.rate(1.0, 2.0) - 10.0) < 1e-6
    back = result.back_to_full(5.0, baseline=10.0)
    assert back is not None and 4.0 <= back <= 4.1  # the first full second after 8.0


def test_no_recovery_before_the_end_is_none():
    result = _result([i / 10 for i in range(1, 30)], 10.0)
    assert result.back_to_full(3.0, baseline=10.0) is None
    assert abs(result.longest_stall(after=3.0) - 7.0) < 1e-6  # to the end
