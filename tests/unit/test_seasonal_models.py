"""The analysis's anomaly detector: a phase- and quantile-scaled score (SeasonalRobustScore)
decides; an IsolationForest corroborates (SeasonalAnomalyDetector)."""

import joblib
import numpy as np
import pytest
from sklearn.utils.estimator_checks import check_estimator

from ledgerlake.analytics.models import SeasonalAnomalyDetector, SeasonalRobustScore


def _sunlight(days: int = 200, seed: int = 3):
    """Hourly irradiance: 0 at night, a heavy-tailed cloudy day; phase = hour of day."""
    rng = np.random.default_rng(seed)
    hours = np.arange(days * 24)
    phase = hours % 24
    day = np.clip(np.sin((phase - 6) / 12 * np.pi), 0, None) * 900
    clouds = rng.standard_t(3, size=hours.size) * 60 * (day > 0)
    return phase, np.clip(day + clouds, 0, None)


def test_a_night_spike_stands_out_where_ordinary_cloudy_days_do_not():
    phase, y = _sunlight()
    night = int(np.flatnonzero(phase == 2)[100])
    y[night] = 400.0                     # sunlight at 02:00: impossible, though small by day
    X = np.column_stack([phase, y])
    model = SeasonalRobustScore().fit(X)
    flagged = np.flatnonzero(model.predict(X) == -1)
    assert night in flagged
    assert len(flagged) <= 0.005 * len(y) + 1   # the cloudy days are ordinary
    # the same value at noon is nothing unusual
    noon = X[[night]].copy()
    noon[0, 0] = 12
    assert model.predict(noon)[0] == 1


def test_a_quantised_reading_is_scaled_by_its_own_moves():
    rng = np.random.default_rng(0)
    y = np.round(1013 + np.cumsum(rng.choice([-1, 0, 0, 0, 0, 1], size=2000)) * 0.0)
    y[::97] += 1.0                       # now and then one step of its resolution
    y[500] = 700.0                       # a broken barometer
    X = np.column_stack([np.arange(y.size) % 24, y])
    flagged = np.flatnonzero(SeasonalRobustScore().fit(X).predict(X) == -1)
    assert flagged.tolist() == [500]


def test_phases_with_few_samples_use_the_overall_scale():
    """30 days: a phase's 99th percentile would be its largest value, the spike itself."""
    rng = np.random.default_rng(1)
    phase = np.arange(30 * 24) % 24
    y = rng.normal(0, 1, size=phase.size)
    y[100] = 12.0
    X = np.column_stack([phase, y])
    assert 100 in np.flatnonzero(SeasonalRobustScore().fit(X).predict(X) == -1)
    assert 100 not in np.flatnonzero(
        SeasonalRobustScore(min_phase_samples=1).fit(X).predict(X) == -1)


def test_the_detector_decides_by_the_score_and_names_both_methods(tmp_path):
    phase, y = _sunlight(days=60)
    y[500 + (2 - 500 % 24)] = 800.0
    X = np.column_stack([phase, y])
    det = SeasonalAnomalyDetector(random_state=0).fit(X)
    np.testing.assert_array_equal(det.predict(X), det.score_.predict(X))
    methods = det.methods(X)
    assert methods.shape == (len(y), 2) and methods[:, 1].tolist() == \
        (det.predict(X) == -1).tolist()
    joblib.dump(det, tmp_path / "d.joblib")
    np.testing.assert_array_equal(joblib.load(tmp_path / "d.joblib").score_samples(X),
                                  det.score_samples(X))


@pytest.mark.parametrize("estimator", [
    SeasonalRobustScore(threshold=1.0),
    SeasonalAnomalyDetector(threshold=1.0, n_estimators=20, random_state=0),
], ids=lambda e: type(e).__name__)
def test_sklearn_estimator_checks(estimator):
    check_estimator(estimator)


def test_every_analysis_parameter_has_a_rule_and_a_bad_quantile_is_one_line():
    from ledgerlake.analytics import analyze
    from ledgerlake.errors import ConfigError

    assert set(analyze.RULES) == set(analyze.DEFAULTS)
    with pytest.raises(ConfigError, match="anomaly_quantile=1.5 is not allowed"):
        analyze._params({"anomaly_quantile": 1.5})
    assert analyze._params({"anomaly_quantile": 0.995})["anomaly_quantile"] == 0.995
