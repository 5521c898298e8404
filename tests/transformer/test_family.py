"""Transformer family: causal mask, KV cache, sampling filters, VQ-VAE, VQ prior, LM, seq2seq."""

from __future__ import annotations

import lightning as L
import pytest
import torch

from lightning_gen.contracts import CanEncode, CanReconstruct, CanSample
from lightning_gen.errors import ConfigError
from lightning_gen.networks.transformer import DecoderOnly, EncoderDecoder
from lightning_gen.networks.vqvae import VectorQuantizer
from lightning_gen.transformer.prior import VQPrior
from lightning_gen.transformer.sampling import filter_logits, generate
from lightning_gen.vqvae.module import VQVAE
from tests.helpers.family_contract import check_family, hook_loss

SHAPE = [1, 28, 28]
VQ_KW = dict(widths=[8, 16], code_dim=8, codebook_size=16)


def tiny_vqvae_spec() -> dict:
    hp = {"image_shape": SHAPE, "num_classes": 10, **VQ_KW}
    return {"class_path": "lightning_gen.vqvae.module.VQVAE", "hparams": hp}


# -- networks ------------------------------------------------------------------------------------
def test_causal_mask_future_tokens_never_change_earlier_logits():
    torch.manual_seed(0)
    net = DecoderOnly(20, 20, 32, dim=32, depth=2, heads=4).eval()
    x = torch.randint(0, 20, (3, 16))
    base = net(x)
    for t in (1, 7, 15):
        y = x.clone()
        y[:, t:] = torch.randint(0, 20, (3, 16 - t))
        out = net(y)
        torch.testing.assert_close(out[:, :t], base[:, :t], rtol=0, atol=1e-6)
        assert (out[:, t:] - base[:, t:]).abs().max() > 1e-4  # the future does change later logits


def test_decoder_causal_mask_and_encoder_padding_in_seq2seq():
    torch.manual_seed(0)
    net = EncoderDecoder(14, 16, dim=32, depth=2, heads=4).eval()
    src, tgt = torch.randint(3, 14, (2, 6)), torch.randint(3, 14, (2, 8))
    base = net(src, tgt)
    tgt2 = tgt.clone()
    tgt2[:, 5:] = 3
    torch.testing.assert_close(net(src, tgt2)[:, :5], base[:, :5], rtol=0, atol=1e-6)
    # extra padding on the source is ignored by the encoder's attention
    padded = torch.cat([src, torch.zeros(2, 3, dtype=torch.long)], 1)
    torch.testing.assert_close(net(padded, tgt), base, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("guidance", [1.0, 3.0])
def test_kv_cached_sampling_equals_uncached_for_a_fixed_seed(guidance):
    torch.manual_seed(0)
    net = DecoderOnly(24, 20, 40, dim=32, depth=2, heads=4).eval()
    prefix, uncond = torch.randint(20, 24, (4, 1)), torch.full((4, 1), 23)
    runs = []
    for cache in (True, False):
        g = torch.Generator().manual_seed(7)
        runs.append(generate(net, prefix, 16, 1.0, 10, 0.9, g, cache, uncond, guidance))
    assert runs[0].shape == (4, 17)
    assert torch.equal(runs[0], runs[1])


def test_top_k_and_top_p_keep_the_right_tokens():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    assert torch.isinf(filter_logits(logits, top_k=2)).tolist() == [[False, False, True, True]]
    # nucleus 0.7: 0.5 alone is not enough, 0.5 + 0.3 crosses it -> two tokens kept
    assert torch.isinf(filter_logits(logits, top_p=0.7)).tolist() == [[False, False, True, True]]
    assert not torch.isinf(filter_logits(logits, top_p=1.0)).any()


# -- VQ-VAE --------------------------------------------------------------------------------------
def test_straight_through_gradients_reach_the_encoder(mnist_batch):
    m = VQVAE(SHAPE, 10, **VQ_KW)
    x = mnist_batch[0][:8]
    z_q, _, _, _ = m.quantize(x)
    torch.nn.functional.mse_loss(m.decoder(z_q), x).backward()  # reconstruction term only
    grads = [p.grad for p in m.encoder.parameters()]
    assert all(g is not None for g in grads) and sum(g.abs().sum() for g in grads) > 0


def test_dead_codes_are_restarted_onto_encoder_outputs():
    torch.manual_seed(0)
    vq = VectorQuantizer(8, 2, restart_after=3)
    with torch.no_grad():
        vq.codebook.copy_(torch.cat([torch.zeros(1, 2), 100 + torch.arange(14.0).view(7, 2)]))
    z = torch.randn(4, 2, 2, 2) * 0.1  # every vector is nearest code 0
    vq.train()
    for _ in range(2):
        vq(z)
    assert (vq.unused_steps[1:] == 2).all() and vq.codebook[1:].abs().min() > 50  # not yet
    vq(z)  # third unused step: codes 1..7 restart at encoder outputs
    flat = z.permute(0, 2, 3, 1).reshape(-1, 2)
    nearest = torch.cdist(vq.codebook[1:].detach(), flat).min(1).values
    assert (nearest < 0.01).all() and (vq.unused_steps == 0).all()


def test_ema_codebook_moves_towards_assigned_vectors():
    vq = VectorQuantizer(2, 2, ema=True, decay=0.5, restart_after=0)
    with torch.no_grad():
        vq.codebook.copy_(torch.tensor([[0.0, 0.0], [10.0, 10.0]]))
        vq.ema_sum.copy_(vq.codebook)
    z = torch.ones(1, 2, 1, 1)  # nearest code 0
    vq.train()
    before = vq.codebook[0].clone()
    for _ in range(10):
        vq(z)
    assert (vq.codebook[0] - 1).abs().max() < (before - 1).abs().max() / 10
    assert not vq.codebook.requires_grad


def test_codebook_usage_above_one_code_on_a_tiny_run(mnist_batch, tmp_path):
    torch.manual_seed(0)
    m = VQVAE(SHAPE, 10, **VQ_KW, restart_after=5)
    x = mnist_batch[0]
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(x, torch.zeros(len(x))), batch_size=32
    )
    L.Trainer(max_steps=20, logger=False, enable_checkpointing=False, enable_progress_bar=False,
              enable_model_summary=False, default_root_dir=tmp_path).fit(m, loader)  # fmt: skip
    from lightning_gen.vqvae.module import code_stats

    tokens = m.eval().tokenize(x)
    usage, perplexity = code_stats(torch.bincount(tokens.flatten(), minlength=16).float())
    assert usage * 16 > 1 and perplexity > 1.5, (usage, perplexity)


def vq_recon_loss(model, x, y):
    with torch.no_grad():
        return float((model.eval().reconstruct(x) - x).pow(2).mean())


@pytest.mark.parametrize(
    "make, loss, labelled",
    [
        (lambda: VQVAE(SHAPE, 10, **VQ_KW), vq_recon_loss, False),
        (lambda: VQVAE(SHAPE, 10, **VQ_KW, ema=True), vq_recon_loss, False),
        (
            lambda: VQPrior(SHAPE, 10, vqvae=tiny_vqvae_spec(), dim=32, depth=1, heads=2),
            hook_loss,  # the public loss(batch, *, generator) hook (HasLoss)
            False,
        ),
        (
            lambda: VQPrior(
                SHAPE,
                10,
                vqvae=tiny_vqvae_spec(),
                conditional=True,
                dim=32,
                depth=1,
                heads=2,
                guidance_scale=2.0,
            ),
            hook_loss,  # the public loss(batch, *, generator) hook (HasLoss)
            True,
        ),  # fmt: skip
    ],
    ids=["vqvae", "vqvae_ema", "vq_prior", "vq_prior_cfg"],
)
def test_family_contract(make, loss, labelled, mnist_batch, tmp_path):
    x, y = mnist_batch
    check_family(make, x[:16], y[:16] if labelled else None, tmp_path, steps=20, eval_loss=loss)


def test_protocols_and_sampling_options():
    vq = VQVAE(SHAPE, 10, **VQ_KW)
    assert (
        isinstance(vq, CanReconstruct)
        and isinstance(vq, CanEncode)
        and not isinstance(vq, CanSample)
    )
    prior = VQPrior(SHAPE, 10, vqvae=tiny_vqvae_spec(), dim=32, depth=1, heads=2, top_k=5)
    assert isinstance(prior, CanSample)
    assert prior.sampling_options() == {
        "temperature": 1.0,
        "top_k": 5,
        "top_p": None,
        "guidance_scale": 1.0,
    }
    torch.manual_seed(0)
    a = prior.sample(2, temperature=0.5, top_p=0.9)
    assert a.shape == (2, *SHAPE) and a.min() >= -1 and a.max() <= 1


def test_conditional_prior_follows_its_label():
    torch.manual_seed(0)
    prior = VQPrior(
        SHAPE, 10, vqvae=tiny_vqvae_spec(), conditional=True, dim=32, depth=1, heads=2
    ).eval()
    with torch.no_grad():
        prior.vqvae.quantizer.codebook.normal_()  # distinct codes decode to distinct pictures
    outs = [
        prior.sample(2, condition=torch.tensor([c, c]), generator=torch.Generator().manual_seed(1))
        for c in (1, 2)
    ]
    assert not torch.allclose(*outs)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"dim": 30, "heads": 4}, "model.dim=30 must be divisible by model.heads=4"),
        ({"depth": 0}, r"model.depth=0 is not valid: must be >= 1"),
        ({"dropout": 1.5}, r"model.dropout=1.5 is not valid: must be in \[0, 1\)"),
        ({"temperature": 0.0}, "model.temperature=0.0 is not valid: must be > 0"),
        ({"top_p": 1.5}, r"model.top_p=1.5 is not valid: must be in \[0, 1\]"),
        ({"top_k": 0}, "model.top_k=0 is not valid: must be >= 1"),
        ({"conditional": True, "num_classes": 0}, "needs labelled data"),
    ],
)
def test_prior_bad_arguments_name_the_key(kwargs, match):
    base = {"image_shape": SHAPE, "num_classes": 10, "vqvae": tiny_vqvae_spec()}
    with pytest.raises(ConfigError, match=match):
        VQPrior(**{**base, **kwargs})


def test_vqvae_bad_arguments_are_value_errors_naming_the_key():
    with pytest.raises(ConfigError, match="model.codebook_size=0 is not valid"):
        VQVAE(SHAPE, codebook_size=0)
    with pytest.raises(ConfigError, match=r"model.decay=1.0 is not valid"):
        VQVAE(SHAPE, decay=1.0)
    with pytest.raises(ConfigError, match=r"model.decay=0.0 is not valid: must be in \(0, 1\)"):
        VQVAE(SHAPE, decay=0.0)


def test_prior_without_vqvae_checkpoint_says_what_to_train_first(tmp_path):
    with pytest.raises(ConfigError, match="model.vqvae_ckpt=.*lgen train experiment=vqvae_mnist"):
        VQPrior(SHAPE, 10)
    with pytest.raises(Exception, match="no such file"):
        VQPrior(SHAPE, 10, vqvae_ckpt=str(tmp_path / "missing.ckpt"))


def test_cached_sampling_feeds_one_token_per_step():
    """Linear cost: with the cache every step after the prefix runs the network on one new token."""
    net = DecoderOnly(10, 10, 40, dim=16, depth=1, heads=2).eval()
    lengths: list[int] = []
    net.register_forward_pre_hook(
        lambda m, args, kwargs: lengths.append(args[0].shape[1]), with_kwargs=True
    )
    generate(net, torch.zeros(2, 3, dtype=torch.long), 8)
    assert lengths == [3] + [1] * 7
    lengths.clear()
    generate(net, torch.zeros(2, 3, dtype=torch.long), 8, use_cache=False)
    assert lengths == list(range(3, 11))  # uncached: the whole sequence every step


def test_text_models_validate_their_numeric_arguments():
    from lightning_gen.transformer.lm import LanguageModel
    from lightning_gen.transformer.seq2seq import Seq2Seq

    with pytest.raises(ConfigError, match=r"model.block_size=0 is not valid: must be >= 1"):
        LanguageModel(block_size=0)
    with pytest.raises(ConfigError, match=r"top_p=0.0 must be in \(0, 1\]"):
        LanguageModel(top_p=0.0)
    with pytest.raises(ConfigError, match=r"model.beam_size=0 is not valid"):
        Seq2Seq(beam_size=0)
    with pytest.raises(ConfigError, match="model.dim=50 must be divisible by model.heads=4"):
        Seq2Seq(dim=50)


def test_every_transformer_family_has_the_public_deterministic_loss_hook(mnist_batch):
    from lightning_gen.contracts import HasLoss
    from lightning_gen.transformer.lm import LanguageModel
    from lightning_gen.transformer.seq2seq import Seq2Seq

    x, y = mnist_batch
    tokens = torch.randint(0, 16, (4, 9))
    cases = [
        (VQVAE(SHAPE, 10, **VQ_KW), (x[:8], None)),
        (VQPrior(SHAPE, 10, vqvae=tiny_vqvae_spec(), dim=32, depth=1, heads=2), (x[:8], None)),
        (LanguageModel(vocab_size=16, block_size=8, dim=32, depth=1, heads=2, dropout=0.2),
         (tokens[:, :-1], tokens[:, 1:])),
        (Seq2Seq(dim=32, depth=1, heads=2, dropout=0.2), (torch.randint(3, 13, (4, 5)), torch.randint(3, 13, (4, 6)))),
    ]  # fmt: skip
    for model, batch in cases:
        assert isinstance(model, HasLoss), type(model).__name__
        model.train()  # dropout on: the generator alone must fix the value
        a, b = (float(model.loss(batch, generator=torch.Generator().manual_seed(3))) for _ in "ab")
        assert a == b and a > 0, type(model).__name__
