"""BG/NBD and gamma-gamma: closed forms against numerical integration, fits against known truth.

Reference values come from three independent places: brute-force integration of the
individual-level model over λ and p, an event-by-event simulator written here (not the module's
simulate_bgnbd), and the CDNOW figures published by Fader, Hardie & Lee (2005).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, optimize, special, stats

from churnguard.features.btyd import (
    BgNbdParams,
    GammaGammaParams,
    bgnbd_log_likelihood,
    expected_average_value,
    expected_purchases,
    expected_purchases_new_customer,
    fit_bgnbd,
    fit_gamma_gamma,
    gamma_gamma_log_likelihood,
    p_alive,
    simulate_bgnbd,
)

# Published CDNOW estimates (Fader, Hardie & Lee 2005), time in weeks.
CDNOW = BgNbdParams(r=0.243, alpha=4.414, a=0.793, b=2.426)
# A second, differently shaped customer base: time in days, a > 1, higher repeat rate.
DAILY = BgNbdParams(r=0.8, alpha=40.0, a=1.6, b=5.0)
# Smooth densities (r, a > 1) and singular ones (r, a < 1) for the numerical integration.
SMOOTH = BgNbdParams(r=1.7, alpha=6.0, a=1.4, b=3.2)


def simulate_with_future(
    params: BgNbdParams, T: np.ndarray, horizon: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Event by event: exponential gaps, a coin flip for drop-out after each purchase.

    Returns frequency and recency in (0, T] and the number of purchases in (T, T + horizon].
    """
    n = len(T)
    lam = np.maximum(rng.gamma(params.r, 1.0 / params.alpha, n), 1e-300)
    p = rng.beta(params.a, params.b, n)
    clock = np.zeros(n)
    x = np.zeros(n)
    recency = np.zeros(n)
    future = np.zeros(n)
    active = np.arange(n)
    while len(active):
        clock[active] += rng.exponential(1.0 / lam[active])
        active = active[clock[active] <= T[active] + horizon]
        before = clock[active] <= T[active]
        x[active[before]] += 1
        recency[active[before]] = clock[active[before]]
        future[active[~before]] += 1
        active = active[rng.random(len(active)) >= p[active]]
    return x, recency, future


def integrate_model(
    params: BgNbdParams, x: int, t_x: float, T: float, t: float
) -> tuple[float, float, float]:
    """Likelihood, P(alive) and E[purchases in (T, T+t]] by integrating the individual model over λ, p.

    Given λ and p, a customer with x repeat purchases is alive at T with weight (1-p)^x λ^x e^{-λT},
    or dropped out after the purchase at t_x with weight p (1-p)^{x-1} λ^x e^{-λ t_x}; an alive
    customer then buys (1 - e^{-λpt}) / p times in expectation. The Gamma and Beta densities'
    algebraic factors at 0 are handed to quad as weights, so r < 1 and a < 1 integrate accurately.
    """
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    lam_max = 60.0 * (r + x + 10.0) / (alpha + t_x)  # beyond this e^{-λ(α+t_x)} leaves nothing

    def over_lambda(p: float, part: str) -> float:
        def integrand(lam: float) -> float:
            alive = (1.0 - p) ** x * lam**x * np.exp(-lam * (alpha + T))
            if part == "alive":
                return alive
            if part == "future":
                return alive * (lam * t if p == 0 else -np.expm1(-lam * p * t) / p)
            dead = p * (1.0 - p) ** (x - 1) * lam**x * np.exp(-lam * (alpha + t_x)) if x > 0 else 0.0
            return alive + dead

        value, _ = integrate.quad(
            integrand, 0.0, lam_max, weight="alg", wvar=(r - 1.0, 0.0), epsabs=0.0, epsrel=1e-11, limit=200
        )
        return value

    def over_both(part: str) -> float:
        value, _ = integrate.quad(
            over_lambda,
            0.0,
            1.0,
            args=(part,),
            weight="alg",
            wvar=(a - 1.0, b - 1.0),
            epsabs=0.0,
            epsrel=1e-10,
        )
        return value * alpha**r / special.gamma(r) / special.beta(a, b)

    likelihood = over_both("all")
    return likelihood, over_both("alive") / likelihood, over_both("future") / likelihood


def expected_alive_by_quadrature(params: BgNbdParams, t: float, x: int, T: float) -> float:
    """E[purchases in (T, T+t] | alive at T]: given alive, λ ~ Gamma(r+x, α+T) and p ~ Beta(a, b+x).

    Integrating λ out leaves E_p[(1 - (1 + p t/(α+T))^-(r+x)) / p], one smooth integral over p.
    """
    m, k = params.r + x, t / (params.alpha + T)

    # The Beta density's algebraic factors go to quad as weights, except a large power of (1-p),
    # for which quad returns NaN; that one is smooth near p = 0, where the mass then sits.
    tail = params.b + x - 1.0
    in_weight = tail < 50

    def integrand(p: float) -> float:
        spread = 1.0 if in_weight else np.exp(tail * np.log1p(-p))
        return spread * (-np.expm1(-m * np.log1p(p * k)) / p if p > 0 else m * k)

    value, _ = integrate.quad(
        integrand,
        0.0,
        1.0,
        weight="alg",
        wvar=(params.a - 1.0, tail if in_weight else 0.0),
        epsabs=0.0,
        epsrel=1e-10,
        limit=200,
    )
    return value / special.beta(params.a, params.b + x)


def relative_error(actual, expected) -> np.ndarray:
    return np.abs(np.asarray(actual) / np.asarray(expected) - 1.0)


# --- fitting -----------------------------------------------------------------------------------


@pytest.mark.filterwarnings("error::RuntimeWarning")  # a convergence warning fails the test
def test_fit_recovers_cdnow_parameters_from_simulated_weeks():
    # 100k customers: the sampling SD of a and b is then ~4%, of r and alpha ~1% (measured over seeds).
    rng = np.random.default_rng(20050101)
    n = 100_000
    x, recency, T = simulate_bgnbd(CDNOW, n, rng.uniform(27, 39, n), rng)

    fitted = fit_bgnbd(x, recency, T)

    truth = np.array([CDNOW.r, CDNOW.alpha, CDNOW.a, CDNOW.b])
    got = np.array([fitted.r, fitted.alpha, fitted.a, fitted.b])
    assert np.all(relative_error(got, truth) < [0.05, 0.05, 0.15, 0.15]), got
    # The mean drop-out probability a / (a + b) is much better determined than a and b themselves.
    assert relative_error(fitted.a / (fitted.a + fitted.b), CDNOW.a / (CDNOW.a + CDNOW.b)) < 0.05


@pytest.mark.filterwarnings("error::RuntimeWarning")
def test_fit_recovers_daily_parameters_from_whole_day_data():
    rng = np.random.default_rng(7)
    n = 100_000
    x, recency, T = simulate_bgnbd(DAILY, n, rng.uniform(90, 365, n), rng)
    # Whole days, as from transaction dates; rounding keeps recency <= T.
    recency, T = np.round(recency), np.round(T)

    fitted = fit_bgnbd(x, recency, T)

    truth = np.array([DAILY.r, DAILY.alpha, DAILY.a, DAILY.b])
    got = np.array([fitted.r, fitted.alpha, fitted.a, fitted.b])
    assert np.all(relative_error(got, truth) < [0.05, 0.05, 0.15, 0.15]), got


def test_fit_finds_the_maximum_a_derivative_free_optimiser_finds():
    # Guards the analytic gradient: Nelder-Mead on the public log-likelihood must land at the same place.
    rng = np.random.default_rng(3)
    x, recency, T = simulate_bgnbd(CDNOW, 4_000, rng.uniform(27, 39, 4_000), rng)
    fitted = fit_bgnbd(x, recency, T)

    def negative_ll(log_params: np.ndarray) -> float:
        return -float(bgnbd_log_likelihood(BgNbdParams(*np.exp(log_params)), x, recency, T).sum())

    polished = optimize.minimize(
        negative_ll,
        np.zeros(4),
        method="Nelder-Mead",
        options={"xatol": 1e-9, "fatol": 1e-9, "maxiter": 5000},
    )
    got = np.array([fitted.r, fitted.alpha, fitted.a, fitted.b])
    assert np.allclose(got, np.exp(polished.x), rtol=1e-4)
    assert negative_ll(np.log(got)) <= polished.fun + 1e-6


def test_fit_on_duplicated_rows_equals_fit_with_weights():
    rng = np.random.default_rng(11)
    x, recency, T = simulate_bgnbd(CDNOW, 3_000, np.round(rng.uniform(27, 39, 3_000)), rng)
    recency = np.round(recency * 7) / 7  # day resolution in weeks, so some rows repeat
    copies = rng.integers(1, 5, len(x))

    weighted = fit_bgnbd(x, recency, T, weights=copies)
    duplicated = fit_bgnbd(np.repeat(x, copies), np.repeat(recency, copies), np.repeat(T, copies))

    assert np.allclose(
        [weighted.r, weighted.alpha, weighted.a, weighted.b],
        [duplicated.r, duplicated.alpha, duplicated.a, duplicated.b],
        rtol=1e-10,
    )
    # And zero weights drop rows.
    keep = copies > 1
    dropped = fit_bgnbd(x[keep], recency[keep], T[keep], weights=copies[keep])
    zeroed = fit_bgnbd(x, recency, T, weights=np.where(keep, copies, 0))
    assert dropped == zeroed


def test_penaliser_shrinks_parameters_on_tiny_data():
    rng = np.random.default_rng(5)
    x, recency, T = simulate_bgnbd(CDNOW, 40, 39.0, rng)

    plain = fit_bgnbd(x, recency, T)
    shrunk = fit_bgnbd(x, recency, T, penaliser=0.1)

    def norm(params: BgNbdParams) -> float:
        return params.r**2 + params.alpha**2 + params.a**2 + params.b**2

    # Minimising f + c·|θ|² can only lower |θ|² compared with minimising f alone.
    assert norm(shrunk) < norm(plain)
    assert fit_bgnbd(x, recency, T, penaliser=0.0) == plain


GOOD = {"frequency": np.arange(12) % 3, "recency": (np.arange(12) % 3) * 2.0, "T": np.full(12, 10.0)}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"frequency": np.r_[-1, GOOD["frequency"][1:]]}, "frequency must be non-negative"),
        ({"frequency": GOOD["frequency"] + 0.5}, "whole numbers"),
        ({"recency": np.r_[GOOD["recency"][:-1], -1.0]}, "recency must be non-negative"),
        ({"T": np.r_[-1.0, GOOD["T"][1:]]}, "T must be non-negative"),
        ({"recency": np.where(GOOD["frequency"] > 0, 11.0, 0.0)}, "recency must not exceed T"),
        ({"recency": np.full(12, 1.0)}, "recency must be 0 for customers with frequency 0"),
        ({"T": np.full(11, 10.0)}, "same length"),
        ({"T": np.r_[np.nan, GOOD["T"][1:]]}, "T contains NaN"),
        ({k: v[:9] for k, v in GOOD.items()}, "at least 10 customers"),
        ({"frequency": np.zeros(12), "recency": np.zeros(12)}, "no customer has a repeat purchase"),
        ({"weights": -np.ones(12)}, "weights must be non-negative"),
        ({"weights": np.ones(5)}, "weights must have the same length"),
        ({"penaliser": -1.0}, "penaliser must be a non-negative number"),
    ],
)
def test_fit_rejects_invalid_input_naming_the_problem(change, message):
    with pytest.raises(ValueError, match=message):
        fit_bgnbd(**{**GOOD, **change})


def test_predictions_reject_invalid_input():
    with pytest.raises(ValueError, match="recency must not exceed T"):
        p_alive(CDNOW, [1], [5.0], [4.0])
    with pytest.raises(ValueError, match="t must be non-negative"):
        expected_purchases(CDNOW, -1.0, [1], [2.0], [4.0])
    with pytest.raises(ValueError, match="parameters must be positive"):
        p_alive(BgNbdParams(r=0.2, alpha=-1.0, a=1.0, b=1.0), [1], [2.0], [4.0])


# --- closed forms against the model itself -----------------------------------------------------

CASES = [(0, 0.0, 30.0), (1, 5.5, 30.0), (4, 20.0, 38.5), (12, 35.0, 36.0), (3, 0.5, 39.0)]


@pytest.mark.parametrize("params", [CDNOW, SMOOTH], ids=["cdnow", "smooth"])
def test_closed_forms_match_integration_over_lambda_and_p(params):
    x, t_x, T = (np.array(column) for column in zip(*CASES, strict=True))
    t = 26.0

    log_l = bgnbd_log_likelihood(params, x, t_x, T)
    alive = p_alive(params, x, t_x, T)
    future = expected_purchases(params, t, x, t_x, T)

    for i, case in enumerate(CASES):
        ref_l, ref_alive, ref_future = integrate_model(params, *case, t)
        assert log_l[i] == pytest.approx(np.log(ref_l), abs=1e-7), case
        assert alive[i] == pytest.approx(ref_alive, rel=1e-7), case
        assert future[i] == pytest.approx(ref_future, rel=1e-7), case


def test_matches_figures_published_for_cdnow():
    # The CDNOW worked example: x = 2, t_x = 30.43, T = 38.86 expects 1.226 purchases in the next
    # 39 weeks (Hardie's spreadsheet for FHL 2005, as quoted in lifetimes' tests).
    assert float(expected_purchases(CDNOW, 39.0, 2, 30.43, 38.86)) == pytest.approx(1.226, abs=5e-4)
    # Cumulative repeat purchases per customer E[X(t)] from Hardie's CDNOW spreadsheet, as quoted in
    # lifetimes' tests. The published parameters are rounded to 3 decimals (r = 0.243 is off by up to
    # 0.2%), hence 0.5% here.
    weeks = np.array([0.1429, 1.0, 3.0, 31.8571, 32.0, 78.0])
    published = np.array([0.0078, 0.0532, 0.1506, 1.0405, 1.0437, 1.8576])
    assert np.all(relative_error(expected_purchases_new_customer(CDNOW, weeks), published) < 0.005)


def test_p_alive_is_one_without_repeat_purchases_and_falls_as_recency_ages():
    assert np.all(p_alive(CDNOW, np.zeros(4), np.zeros(4), [0.0, 1.0, 39.0, 500.0]) == 1.0)

    older = p_alive(CDNOW, 3, np.linspace(38.0, 1.0, 20), 39.0)  # last purchase further and further back
    assert np.all(np.diff(older) < 0)
    assert 0.0 < older[-1] < older[0] < 1.0
    # Waiting longer without a purchase also lowers it.
    assert np.all(np.diff(p_alive(CDNOW, 3, 10.0, np.linspace(10.0, 80.0, 20))) < 0)


def test_expected_purchases_starts_at_zero_and_grows_with_the_horizon():
    horizons = np.linspace(0.0, 200.0, 41)
    curve = expected_purchases(CDNOW, horizons, 2, 30.43, 38.86)
    assert curve[0] == 0.0
    assert np.all(np.diff(curve) > 0)
    # Bounded by P(alive) · E[1/p] = P(alive) (a+b+x-1)/(a-1) when a > 1.
    cap = p_alive(DAILY, 2, 30.0, 90.0) * (DAILY.a + DAILY.b + 1.0) / (DAILY.a - 1.0)
    assert np.all(expected_purchases(DAILY, [1e3, 1e5, 1e7], 2, 30.0, 90.0) < cap)


@pytest.mark.parametrize(
    ("params", "t", "x", "T"),
    [
        (CDNOW, 5_000.0, 2_000, 1_000.0),  # published 2F1 is (1-z)^-(r+x) ~ 1e1500: overflows
        (CDNOW, 39.0, 400, 390.0),
        (BgNbdParams(0.24, 0.01, 0.79, 2.43), 5_000.0, 7, 1.0),  # z = t/(α+T+t) within 2e-4 of 1
        (BgNbdParams(0.24, 4.41, 1.0, 2.43), 39.0, 2, 38.86),  # a = 1: removable singularity
        (BgNbdParams(0.24, 4.41, 1.0 + 3e-5, 2.43), 39.0, 2, 38.86),
        (BgNbdParams(0.24, 4.41, 1.0 - 2e-3, 2.43), 39.0, 2, 38.86),
        (BgNbdParams(0.24, 4.41, 0.05, 0.05), 39.0, 0, 38.86),  # hypergeometric c = a+b-1 < 0
        (BgNbdParams(20.0, 4.41, 8.0, 30.0), 100.0, 60, 39.0),
    ],
)
def test_expected_purchases_stays_accurate_for_extreme_arguments(params, t, x, T):
    # Compare E[future | alive]: P(alive) itself may underflow to 0 in these corners.
    got = expected_purchases(params, t, x, 0.0 if x == 0 else T, T)
    expected = expected_alive_by_quadrature(params, t, x, T)
    assert np.isfinite(got)
    assert float(got) == pytest.approx(
        expected * float(p_alive(params, x, 0.0 if x == 0 else T, T)), rel=1e-6
    )


# --- closed forms against simulation -----------------------------------------------------------


def test_conditional_expectation_matches_simulated_future_purchases():
    # Tower property: within any group defined by the observed history, mean(actual future) equals
    # mean(E[future | history]) up to sampling noise.
    rng = np.random.default_rng(1997)
    n = 40_000
    T = rng.uniform(27, 39, n)
    x, recency, future = simulate_with_future(CDNOW, T, 39.0, rng)

    predicted = expected_purchases(CDNOW, 39.0, x, recency, T)

    groups = np.digitize(x, [1, 2, 3, 5, 10])
    for group in np.unique(groups):
        members = groups == group
        gap = future[members] - predicted[members]
        standard_error = gap.std() / np.sqrt(members.sum())
        assert abs(gap.mean()) < 4 * standard_error, (
            group,
            future[members].mean(),
            predicted[members].mean(),
        )
        assert future[members].mean() == pytest.approx(predicted[members].mean(), rel=0.1)


def test_unconditional_expectation_and_zero_share_match_simulate_bgnbd():
    rng = np.random.default_rng(42)
    n = 100_000
    for T in (1.0, 10.0, 39.0, 78.0):
        x, recency, _ = simulate_bgnbd(CDNOW, n, T, rng)
        expected = float(expected_purchases_new_customer(CDNOW, T))
        assert abs(x.mean() - expected) < 4 * x.std() / np.sqrt(n), T
        # P(X(T) = 0) = (α / (α + T))^r: nobody drops out before a repeat purchase.
        zero_share = (CDNOW.alpha / (CDNOW.alpha + T)) ** CDNOW.r
        assert abs((x == 0).mean() - zero_share) < 4 * np.sqrt(zero_share * (1 - zero_share) / n), T
        assert np.all(recency <= T)
        assert np.all(recency[x == 0] == 0)


def test_simulate_bgnbd_agrees_with_the_event_by_event_simulator():
    rng = np.random.default_rng(8)
    n = 30_000
    T = rng.uniform(27, 39, n)
    x_exact, recency_exact, T_out = simulate_bgnbd(CDNOW, n, T, rng)
    x_events, recency_events, _ = simulate_with_future(CDNOW, T, 0.0, rng)

    assert np.array_equal(T_out, T)
    assert x_exact.dtype.kind == "i"
    counts = [np.bincount(np.minimum(x, 6).astype(int), minlength=7) for x in (x_exact, x_events)]
    assert stats.chi2_contingency(np.array(counts)).pvalue > 0.001
    # Where the last purchase falls within the window, among repeat buyers.
    share_exact = recency_exact[x_exact > 0] / T[x_exact > 0]
    share_events = recency_events[x_events > 0] / T[x_events > 0]
    assert stats.ks_2samp(share_exact, share_events).pvalue > 0.001


def test_simulate_bgnbd_is_reproducible_and_validates():
    first = simulate_bgnbd(CDNOW, 100, 39.0, np.random.default_rng(1))
    second = simulate_bgnbd(CDNOW, 100, 39.0, np.random.default_rng(1))
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))
    # Nearly no drop-out and very high rates must neither overflow nor hang.
    x, recency, _ = simulate_bgnbd(BgNbdParams(50.0, 0.1, 1e-3, 50.0), 1_000, 39.0, np.random.default_rng(2))
    assert np.median(x) > 1_000 and np.all(recency <= 39.0)
    with pytest.raises(ValueError, match="T must be non-negative"):
        simulate_bgnbd(CDNOW, 3, [1.0, -1.0, 2.0], np.random.default_rng(0))


# --- gamma-gamma -------------------------------------------------------------------------------

SPEND = GammaGammaParams(p=6.25, q=3.74, gamma=15.44)  # CDNOW (Fader & Hardie, "The Gamma-Gamma Model")


def simulate_spend(params: GammaGammaParams, x: np.ndarray, rng: np.random.Generator):
    nu = rng.gamma(params.q, 1.0 / params.gamma, len(x))
    totals = rng.gamma(params.p * x, 1.0 / nu)  # a sum of x Gamma(p, ν) transactions
    return totals / x, nu


@pytest.mark.filterwarnings("error::RuntimeWarning")
def test_gamma_gamma_recovers_parameters_and_expected_value_matches_simulation():
    # 100k customers: sampling SD ~3% for p and gamma (strongly correlated), ~1% for q.
    rng = np.random.default_rng(6)
    x = 1 + rng.poisson(2.0, 100_000)
    average, nu = simulate_spend(SPEND, x, rng)

    fitted = fit_gamma_gamma(x, average)

    got = np.array([fitted.p, fitted.q, fitted.gamma])
    truth = np.array([SPEND.p, SPEND.q, SPEND.gamma])
    assert np.all(relative_error(got, truth) < [0.15, 0.05, 0.15]), got
    population_mean = SPEND.p * SPEND.gamma / (SPEND.q - 1.0)
    assert relative_error(fitted.p * fitted.gamma / (fitted.q - 1.0), population_mean) < 0.02

    # E[value | x, average] against each customer's true mean value p / ν, by group of x.
    predicted = expected_average_value(SPEND, x, average)
    for group in (1, 2, 3, 4):
        members = x == group
        gap = SPEND.p / nu[members] - predicted[members]
        assert abs(gap.mean()) < 4 * gap.std() / np.sqrt(members.sum()), group
    assert float(expected_average_value(SPEND, 0, 0.0)) == pytest.approx(population_mean)


def test_gamma_gamma_likelihood_integrates_to_one():
    density, _ = integrate.quad(
        lambda z: float(np.exp(gamma_gamma_log_likelihood(SPEND, [3], [z])[0])), 0.0, np.inf
    )
    assert density == pytest.approx(1.0, rel=1e-8)


def test_gamma_gamma_rejects_customers_without_repeat_purchases():
    with pytest.raises(ValueError, match="needs frequency > 0"):
        fit_gamma_gamma(np.r_[0, np.ones(20)], np.ones(21))
    with pytest.raises(ValueError, match="monetary_value must be positive"):
        fit_gamma_gamma(np.ones(20), np.r_[-1.0, np.ones(19)])
    with pytest.raises(ValueError, match="q > 1"):
        expected_average_value(GammaGammaParams(p=2.0, q=0.8, gamma=5.0), 0, 0.0)
