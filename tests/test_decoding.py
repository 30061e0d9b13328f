"""Decoding as maximising an action-state value (lmdist.exact.decoding) and guided sampling (lmdist.lm.guidance)."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from lmdist.exact import adaptors as ad
from lmdist.exact import align, mixture, strings
from lmdist.exact import decoding as dc
from lmdist.exact import infotheory as it

logits = st.integers(2, 12).flatmap(
    lambda k: arrays(np.float64, k, elements=st.floats(-20, 20, allow_nan=False, allow_infinity=False)))


def _dist(x):
    return it.normalize(np.asarray(x, float))


@settings(max_examples=100, deadline=None)
@given(logits, logits, st.one_of(st.just(0.0), st.floats(1e-3, 20.0)), st.integers(0, 2**32 - 1))
def test_soft_optimum_identity(score, other, tau, seed):
    """V_τ(π) = max V − τ KL(π‖π*) for every π (τ > 0), and V_τ(π) <= max V (τ >= 0)."""
    pi_star = dc.soft_optimum(score, tau)
    best = dc.soft_optimal_value(score, tau)
    assert abs(dc.soft_value(pi_star, score, tau) - best) <= 1e-9 * (1 + abs(best))
    rng = np.random.default_rng(seed)
    for lq in (_dist(other[: len(score)] if len(other) >= len(score) else rng.normal(size=len(score))),
               _dist(np.log(rng.dirichlet(np.ones(len(score)))))):
        v = dc.soft_value(lq, score, tau)
        assert v <= best + 1e-9 * (1 + abs(best))
        if tau > 0:
            assert abs(v - (best - tau * it.kl(lq, pi_star))) <= 1e-8 * (1 + abs(best) + tau * 40)


@settings(max_examples=60, deadline=None)
@given(logits, st.floats(0.05, 10.0))
def test_temperature_and_greedy_are_the_adaptors(x, t):
    lp = _dist(x)
    assert np.allclose(np.exp(dc.temperature_policy(lp, t)), np.exp(ad.Temperature(t).normalize(lp)), atol=1e-12)
    assert np.allclose(np.exp(dc.soft_optimum(lp, t)), np.exp(dc.temperature_policy(lp, t)), atol=1e-12)
    g = np.exp(dc.greedy_policy(lp))
    assert np.isclose(g.sum(), 1) and np.all(g[lp < lp.max()] == 0)
    assert dc.greedy_value(dc.greedy_policy(lp), lp) == pytest.approx(lp.max())


@settings(max_examples=60, deadline=None)
@given(logits, logits, st.floats(0.0, 5.0), st.floats(-3, 3))
def test_cfg_conventions_agree(xc, xu, w, offset):
    k = min(len(xc), len(xu))
    c, u = _dist(xc[:k]), _dist(xu[:k])
    diff = np.exp(dc.cfg_policy(c, u, w)) - np.exp(dc.cfg_policy_lm(xc[:k] + offset, xu[:k] - offset, 1.0 + w))
    assert np.abs(diff).max() < 1e-9
    assert np.allclose(np.exp(dc.cfg_policy(c, u, 0.0)), np.exp(c), atol=1e-12)


def test_bayes_classifier_guidance_is_cfg():
    """With the Bayes posterior as discriminator, CG at λ equals CFG at w = λ − 1, per step."""
    rng = np.random.default_rng(1)
    pe = np.log(rng.dirichlet(np.ones((3,)) * 0.7, size=6).T)          # p(a | e), 3 evidence values
    prior = np.log(rng.dirichlet(np.ones(3)))
    pu = np.logaddexp.reduce(prior[:, None] + pe, axis=0)               # p(a)
    post = prior[0] + pe[0] - pu                                       # log P(e0 | a)
    for lam in (0.0, 0.5, 1.0, 2.0, 4.0):
        a = dc.classifier_guidance_policy(pu, post, lam)
        b = dc.soft_optimum(pu + lam * (pe[0] - pu), 1.0)
        assert np.allclose(np.exp(a), np.exp(b), atol=1e-12)
        if lam >= 1:
            assert np.allclose(np.exp(a), np.exp(dc.cfg_policy(pe[0], pu, lam - 1)), atol=1e-12)


def test_attribution_can_be_negative_and_is_mi_on_average():
    rng = np.random.default_rng(2)
    pe = np.log(rng.dirichlet(np.ones(5), size=3))
    prior = np.log(np.array([0.2, 0.3, 0.5]))
    pu = np.logaddexp.reduce(prior[:, None] + pe, axis=0)
    assert dc.attribution(pu, pe[0], pu) < 0
    mi = sum(np.exp(prior[e]) * dc.attribution(pe[e], pe[e], pu) for e in range(3))
    joint = prior[:, None] + pe
    direct = float(np.sum(np.exp(joint) * (joint - prior[:, None] - pu[None, :])))
    assert mi == pytest.approx(direct, abs=1e-12) and mi > 0


def test_kl_guided_temperature_schedule():
    p = _dist(np.array([1.0, 0.0, -1.0]))
    q = _dist(np.array([-1.0, 0.0, 1.0]))
    d = it.kl(p, q)
    assert dc.kl_guided_temperature(p, p, 0.8, 0.5) == pytest.approx(0.8)
    assert dc.kl_guided_temperature(p, q, 0.8, d) == pytest.approx(0.4)       # one half-life
    assert dc.kl_guided_temperature(p, q, 0.8, math.inf) == 0.8
    assert np.allclose(dc.kl_guided_policy(p, q, 0.8, d), ad.Temperature(0.4).normalize(p))
    with pytest.raises(ValueError):
        dc.kl_guided_temperature(p, q, 0.8, 0.0)


def test_numerical_maximiser_never_beats_closed_form():
    rng = np.random.default_rng(3)
    for name, alg in dc.ALGORITHMS.items():
        for _ in range(4):
            k = int(rng.integers(2, 8))
            rows = {"p": _dist(np.log(rng.dirichlet(np.ones(k)))), "p_u": _dist(np.log(rng.dirichlet(np.ones(k)))),
                    "log_class": np.log(rng.random(k)), "bandwidth": 0.7}
            knob = float(rng.uniform(0.1, 3))
            s, tau = alg.score(rows, knob), float(alg.tau(rows, knob))
            v_closed = alg.value(alg.policy(rows, knob), rows, knob)
            assert v_closed == pytest.approx(dc.soft_optimal_value(s, tau), abs=1e-9)
            _, v_num = dc.maximise_on_simplex(s, tau, rng=rng)
            assert v_num <= v_closed + 1e-9, name
            assert v_num >= v_closed - 1e-4, name


@pytest.mark.parametrize("tau", [0.0, 0.3, 1.0, 2.5])
def test_bellman_is_the_global_optimum(tau):
    rng = np.random.default_rng(4)
    space = strings.StringSpace(2, 3)
    lm = strings.random_lm(space, rng)
    r = strings.random_reward(space, rng)
    table, values = dc.bellman(space, lm.next_logprobs, tau, terminal=r)
    total = lm.logp + r
    j_dp = dc.sequence_objective(space, table, lm.next_logprobs, tau, r)
    assert j_dp == pytest.approx(values[0], abs=1e-10)
    my = dc.myopic_policy(lm.next_logprobs, tau)
    assert dc.sequence_objective(space, my, lm.next_logprobs, tau, r) <= j_dp + 1e-10
    if tau > 0:
        glob = it.normalize(total / tau)
        assert it.tvd(strings.sequence_logscores(space, table), glob) < 1e-12
        assert values[0] == pytest.approx(tau * float(np.logaddexp.reduce(total / tau)), abs=1e-10)
        if tau == 1.0:   # the Gibbs distribution of chapter 01 at beta = 1
            assert it.tvd(glob, align.gibbs(lm.logp, r, 1.0)) < 1e-12
    else:
        assert values[0] == pytest.approx(total.max())


def test_fudge_is_exact_at_lambda_one_only():
    rng = np.random.default_rng(5)
    space = strings.StringSpace(2, 3)
    lm = strings.random_lm(space, rng)
    log_c = -np.logaddexp(0, -strings.random_reward(space, rng, 2.0))     # log P(c | y)
    prefix = dc.prefix_log_expectation(space, lm.logp, log_c)             # log P(c | h)
    child = dc.child_table(space, prefix, log_c)
    for lam, exact in ((1.0, True), (3.0, False)):
        step = dc.classifier_guidance_policy(lm.next_logprobs, child, lam)
        seq = strings.sequence_logscores(space, step)
        target = align.gibbs(lm.logp, lam * log_c, 1.0)
        assert (it.tvd(seq, target) < 1e-12) == exact


def test_guided_sampling_reproduces_plain_sampling():
    torch = pytest.importorskip("torch")
    from lmdist.lm import guidance, models, sampling

    torch.set_num_threads(1)
    model, tok = models.load_lm("tiny-imdb", device="cpu")
    prompts = ["This movie was", "I have never"]
    a = sampling.sample(model, tok, prompts, 2, 8, seed=3, device="cpu")
    b = guidance.sample_guided(model, tok, [prompts, ["The", "The"]], 2, 8, lambda lp, s: lp[0], seed=3, device="cpu")
    assert [x.token_ids for x in a] == [y.token_ids for y in b]
    assert np.allclose([x.logprob_model for x in a], [y.logprob_policy for y in b], atol=1e-4)
    for y in b:   # the policy is p_0: KL(π‖p_0) = 0 and the entropy is that of p_0
        assert np.allclose(y.step_kl[0], 0, atol=1e-9)
        assert y.attribution() == pytest.approx(y.step_stream_kl[1].sum(), abs=1e-6)


# --------------------------------------------------------------------------- contrastive decoding (exact)

@pytest.fixture(scope="module")
def toy():
    rng = np.random.default_rng(3)
    space = strings.StringSpace(3, 3)
    lm_a, lm_u = strings.random_lm(space, rng, 0.7), strings.random_lm(space, rng, 0.7)
    mix = mixture.Mixture(np.asarray(lm_a.logp), np.asarray(lm_u.logp), 0.4)
    r = strings.random_reward(space, rng, 2.0)
    return space, lm_a, mix, r


def test_next_token_table_reproduces_the_model(toy):
    space, lm_a, mix, r = toy
    table = strings.next_token_table(space, np.asarray(lm_a.logp))
    live = np.isfinite(lm_a.next_logprobs)
    assert np.max(np.abs(table[live] - lm_a.next_logprobs[live])) < 1e-12
    ar = strings.autoregressive(space, mix.log_p_ref)
    assert np.max(np.abs(np.exp(ar.logp) - np.exp(mix.log_p_ref))) < 1e-14
    marg = strings.prefix_log_marginals(space, mix.log_p_ref)
    assert abs(marg[0]) < 1e-12  # the empty prefix has mass 1


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0, 5.0])
def test_contrastive_sequence_is_gibbs_at_beta_over_a(toy, gamma):
    space, _, mix, r = toy
    beta = 0.7
    lt = align.gibbs(mix.log_p_ref, r, beta)
    q = dc.contrastive_sequence(lt, mix.log_p_ref, 1 + gamma, gamma)
    assert np.max(np.abs(np.exp(q) - np.exp(align.gibbs(mix.log_p_ref, r, beta / (1 + gamma))))) < 1e-12


@pytest.mark.parametrize("a,b", [(2.0, 0.5), (1.0, 1.0), (0.5, 0.0)])
def test_contrastive_sequence_general(toy, a, b):
    _, _, mix, r = toy
    beta = 1.3
    q = dc.contrastive_sequence(align.gibbs(mix.log_p_ref, r, beta), mix.log_p_ref, a, b)
    pred = it.normalize((a - b) * mix.log_p_ref + a * r / beta)
    assert np.max(np.abs(np.exp(q) - np.exp(pred))) < 1e-12


def test_contrastive_tokenwise(toy):
    space, _, mix, r = toy
    beta = 0.5
    lt = align.gibbs(mix.log_p_ref, r, beta)
    q0 = dc.contrastive_tokenwise(space, lt, mix.log_p_ref, 1.0, 0.0)
    assert np.max(np.abs(np.exp(q0) - np.exp(lt))) < 1e-12  # γ = 0: the tuned model itself
    q_tok = dc.contrastive_tokenwise(space, lt, mix.log_p_ref, 3.0, 2.0)
    q_seq = dc.contrastive_sequence(lt, mix.log_p_ref, 3.0, 2.0)
    assert abs(np.exp(q_tok).sum() - 1) < 1e-12
    assert np.array_equal(q_tok > -np.inf, mix.support)  # no truncation
    assert it.tvd(q_tok, q_seq) > 1e-3  # local normalization differs from global
