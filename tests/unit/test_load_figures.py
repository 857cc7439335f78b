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
    # the load kept starting transactions; from 3.0 on every one failed
    result.outcomes += [Outcome(key=f"f{i}", started=3 + i / 10, finished=3.5 + i / 10,
                                error="SubmitError: refused") for i in range(70)]
    assert result.back_to_full(3.0, baseline=10.0) is None
    assert abs(result.longest_stall(after=3.0) - 6.9) < 1e-6  # to the last start, 9.9


def test_the_wind_down_after_the_last_start_is_no_stall():
    # steady 10 tx/s started until 6.0; the last commits at 6.1; the load ends at 9.0
    times = [i / 10 for i in range(1, 62)]
    outcomes = [Outcome(key=str(i), started=t - 0.1, finished=t, code=VALID)
                for i, t in enumerate(times)]
    result = LoadResult(outcomes=outcomes, started=0.0, ended=9.0)
    assert result.longest_stall(after=3.0) < 0.2
    back = result.back_to_full(3.0, baseline=10.0)
    assert back is not None and back < 1.3
