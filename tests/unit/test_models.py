"""The analysis's estimators and rules: they find what was planted, beat the baseline where
they should, compute metrics as by hand, and follow scikit-learn's conventions."""

from __future__ import annotations

import math

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import check_estimator

from ledgerlake.analytics.models import (
    AnomalyDetector,
    Forecaster,
    RobustZScore,
    lag_features,
    metrics,
    residuals,
    seasonal_naive,
)


def _seasonal(n_days=60, noise=0.5, seed=1) -> pd.Series:
    rng = np.random.default_rng(seed)
    index = pd.date_range("2026-01-01", periods=24 * n_days, freq="h", tz="UTC")
    hour = index.hour.to_numpy()
    y = 20 + 6 * np.sin(2 * np.pi * hour / 24) + rng.normal(0, noise, len(index))
    return pd.Series(y, index=index)


def test_metrics_equal_hand_computed_values():
    m = metrics([1.0, 2.0, 4.0, 0.0], [2.0, 2.0, 2.0, 1.0])
    assert m["mae"] == pytest.approx((1 + 0 + 2 + 1) / 4)
    assert m["rmse"] == pytest.approx(math.sqrt((1 + 0 + 4 + 1) / 4))
    assert m["mape"] == pytest.approx((1 / 1 + 0 / 2 + 2 / 4) / 3)  # the zero actual left out
    assert metrics([0.0, 0.0], [1.0, 1.0])["mape"] is None


def test_seasonal_naive_repeats_the_value_one_period_back():
    y = pd.Series(np.arange(10.0))
    assert seasonal_naive(y, 3).tolist()[3:] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    assert seasonal_naive(y, 3).iloc[:3].isna().all()


def test_seasonal_naive_beyond_one_season_looks_back_as_far_as_the_model_may():
    y = pd.Series(np.arange(20.0))
    base = seasonal_naive(y, 3, horizon=5)  # 2 seasons back: nothing under 5 steps old
    assert base.iloc[6:].tolist() == y.iloc[:14].tolist()
    assert base.iloc[:6].isna().all()
    assert seasonal_naive(y, 3, horizon=3).equals(seasonal_naive(y, 3))
    X = lag_features(y.set_axis(pd.date_range("2024-01-01", periods=20, freq="h")),
                     horizon=5, period=3)
    assert "lag_6" in X.columns and "lag_3" not in X.columns  # the same seasonal lag


def test_lag_features_use_only_values_at_least_the_horizon_old():
    y = _seasonal(n_days=10)
    X = lag_features(y, horizon=24, period=24)
    assert min(int(c.split("_")[1]) for c in X if c.startswith("lag_")) == 24
    i = 200
    assert X["lag_24"].iloc[i] == y.iloc[i - 24]
    assert X["mean_24"].iloc[i] == pytest.approx(y.iloc[i - 47:i - 23].mean())
    assert X["season_mean_7"].iloc[i] == pytest.approx(
        np.mean([y.iloc[i - 24 * j] for j in range(1, 8)]))
    assert X["hour"].iloc[i] == y.index[i].hour
    # changing the last 24 values changes no feature of the last row's... own horizon
    y2 = y.copy()
    y2.iloc[-24:] += 100
    pd.testing.assert_series_equal(lag_features(y2, horizon=24, period=24).iloc[-1],
                                   X.iloc[-1])


def test_forecaster_beats_seasonal_naive_on_a_noisy_daily_cycle():
    """On a fixed daily cycle plus noise, yesterday's value carries yesterday's noise as
    well (error ~ √2·σ); a model that learned the cycle errs by ~σ."""
    y = _seasonal(n_days=60)
    X = lag_features(y, horizon=24, period=24)
    split = 24 * 48
    model = Forecaster(random_state=0).fit(X.iloc[:split].to_numpy(), y.iloc[:split])
    pred = model.predict(X.iloc[split:].to_numpy())
    base = seasonal_naive(y, 24).iloc[split:]
    ours, theirs = metrics(y.iloc[split:], pred), metrics(y.iloc[split:], base)
    assert ours["mae"] < 0.85 * theirs["mae"]
    assert 1 - ours["mae"] / theirs["mae"] > 0.15


def test_robust_z_scores_are_median_and_scaled_mad():
    X = np.array([[1.0], [2.0], [3.0], [4.0], [100.0]])
    model = RobustZScore(threshold=3.5).fit(X)
    assert model.center_[0] == 3.0
    assert model.scale_[0] == pytest.approx(1.4826 * 1.0)   # |dev| = 2,1,0,1,97: median 1
    assert model.z_scores(X)[4, 0] == pytest.approx(97 / 1.4826)
    assert model.predict(X).tolist() == [1, 1, 1, 1, -1]


def test_anomaly_detector_finds_the_planted_spikes_and_little_else():
    y = _seasonal(n_days=60, noise=0.3, seed=3)
    frame = pd.DataFrame({"a": y, "b": y * 0.5 + 3})
    planted = [100, 555, 1000]
    frame.iloc[planted[0], 0] += 8
    frame.iloc[planted[1], 1] -= 6
    frame.iloc[planted[2], 0] += 5
    X = residuals(frame, 7).to_numpy()
    det = AnomalyDetector(threshold=4.0, random_state=0).fit(X)
    flagged = np.flatnonzero(det.predict(X) == -1)
    assert set(planted) <= set(flagged)
    assert len(flagged) <= len(planted) + 2
    score = -det.score_samples(X)
    assert ((score > 1) == (det.predict(X) == -1)).all()
    assert det.methods(X)[planted].all()


def test_residuals_leave_a_trend_out_and_keep_a_spike():
    frame = pd.DataFrame({"x": np.arange(20.0)})
    frame.iloc[10, 0] += 50
    r = residuals(frame, 7)["x"]
    assert r.iloc[10] == pytest.approx(50)
    assert r.drop(index=[10]).abs().max() == 0   # the trend is gone, no shadow of the spike


def test_models_follow_sklearn_conventions_and_survive_joblib(tmp_path):
    X = np.random.default_rng(0).normal(size=(200, 3))
    X[7] = [9, 9, 9]
    det = AnomalyDetector(threshold=3.0, n_estimators=50, random_state=0)
    assert det.get_params()["n_estimators"] == 50
    assert det.set_params(n_estimators=60).n_estimators == 60
    with pytest.raises(NotFittedError):
        det.predict(X)
    det.fit(X)
    joblib.dump(det, tmp_path / "det.joblib")
    again = joblib.load(tmp_path / "det.joblib")
    np.testing.assert_array_equal(again.score_samples(X), det.score_samples(X))
    y = X @ [1.0, 2.0, -1.0]
    fc = Forecaster(max_iter=50, random_state=0).fit(X, y)
    joblib.dump(fc, tmp_path / "fc.joblib")
    np.testing.assert_array_equal(joblib.load(tmp_path / "fc.joblib").predict(X),
                                  fc.predict(X))


@pytest.mark.parametrize("estimator", [
    RobustZScore(threshold=1.5),            # blobs have some points beyond 1.5 MADs
    AnomalyDetector(threshold=1.5, n_estimators=20, random_state=0),
    RobustZScore(contamination=0.1),        # offset_ from the training scores
    AnomalyDetector(n_estimators=20, random_state=0, contamination=0.1),
    Forecaster(max_iter=20, random_state=0),
], ids=lambda e: type(e).__name__)
def test_sklearn_estimator_checks(estimator):
    check_estimator(estimator)


@pytest.mark.parametrize("make", [RobustZScore, AnomalyDetector])
def test_contamination_sets_the_share_flagged_on_training_data(make):
    """The outlier checks scikit-learn runs for detectors with ``contamination``: that
    share of the training samples is flagged; "auto" keeps the threshold's own verdict (on
    make_blobs it flags nothing, which is why those checks need a contamination)."""
    from sklearn.utils.estimator_checks import check_outliers_fit_predict, check_outliers_train

    X = np.random.default_rng(1).normal(size=(200, 3))
    check_outliers_train(make.__name__, make(contamination=0.1))
    check_outliers_fit_predict(make.__name__, make(contamination=0.1))
    flagged = (make(contamination=0.1).fit(X).predict(X) == -1).mean()
    assert flagged == pytest.approx(0.1, abs=0.01)
    auto = make().fit(X)
    assert auto.offset_ == (-1.0 if make is AnomalyDetector else -3.5)
    with pytest.raises(ValueError, match="contamination"):
        make(contamination=0.9).fit(X)
