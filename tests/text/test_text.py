"""Text data (tokenisers, corpora, blocks, bad input), the language model and sequence-to-sequence."""

from __future__ import annotations

import time

import lightning as L
import pytest
import torch

from lightning_gen.errors import ConfigError, DataError
from lightning_gen.text import sources
from lightning_gen.text.datamodule import TextDataModule
from lightning_gen.text.digits import DigitTaskDataModule
from lightning_gen.text.sources import PydocTopics, TextFolder, TinyShakespeare
from lightning_gen.text.tokenizers import ByteTokenizer, CharTokenizer, from_spec
from lightning_gen.transformer.lm import LanguageModel
from lightning_gen.transformer.seq2seq import Seq2Seq, strip

SHAKESPEARE = (
    "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n\n"
    "First Citizen:\nYou are all resolved rather to die than to famish?\n\n"
)


def trainer(tmp_path, steps: int) -> L.Trainer:
    return L.Trainer(max_steps=steps, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                     enable_model_summary=False, limit_val_batches=0, default_root_dir=tmp_path)  # fmt: skip


# -- tokenisers and data -------------------------------------------------------------------------
def test_tokenizers_round_trip_and_rebuild_from_their_spec():
    text = "héllo wörld\n"
    for tok in (ByteTokenizer(), CharTokenizer().fit(text)):
        ids = tok.encode(text)
        assert tok.decode(ids) == text and max(ids) < tok.vocab_size
        again = from_spec(tok.spec())
        assert again.encode(text) == ids and again.vocab_size == tok.vocab_size
    assert len(ByteTokenizer().encode("é")) == 2 and len(CharTokenizer().fit("é").encode("é")) == 1
    with pytest.raises(ValueError, match="'z' is not in the tokenizer's vocabulary"):
        CharTokenizer("abc").encode("abz")


def test_default_corpus_is_real_text_shipped_with_python():
    docs = PydocTopics().load()
    assert len(docs) > 50 and sum(map(len, docs)) > 100_000
    assert any("assignment statement" in d.lower() for d in docs)


def test_blocks_are_deterministic_shifted_by_one_and_split_without_overlap(tmp_path):
    (tmp_path / "a.txt").write_text("abcdefghij" * 50)
    (tmp_path / "b.txt").write_text("0123456789" * 50)

    def make(seed):
        dm = TextDataModule(
            TextFolder(str(tmp_path)), CharTokenizer(), block_size=16, batch_size=4, seed=seed
        )
        dm.setup()
        return dm

    a, b = make(0), make(0)
    for split in ("train", "val", "test"):
        assert torch.equal(a.splits[split].tensors[0], b.splits[split].tensors[0])
    x, y = a.splits["train"].tensors
    assert (
        x.shape[1] == 16 and torch.equal(x[:, 1:], y[:, :-1]) and torch.equal(x[1:, 0], y[:-1, -1])
    )
    n_tokens = sum(len(a.splits[s]) * 16 for s in ("train", "val", "test"))
    assert n_tokens <= 1002  # contiguous parts, no block reused across splits
    # 20 characters + the newline that joins documents
    assert a.model_kwargs() == {"vocab_size": 21, "block_size": 16, "tokenizer": a.tokenizer.spec()}
    assert not torch.equal(
        make(1).splits["val"].tensors[0], a.splits["val"].tensors[0]
    )  # seed orders docs


def test_bad_text_inputs_get_clear_errors_or_the_skip_policy(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "blank.txt").write_text("  \n\n ")
    with pytest.raises(DataError, match="corpus is empty"):
        TextDataModule(TextFolder(str(empty))).setup()
    with pytest.raises(DataError, match="no files match"):
        TextFolder(str(tmp_path / "empty"), pattern="*.md").load()
    with pytest.raises(DataError, match="no such folder"):
        TextFolder(str(tmp_path / "nope")).load()
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "good.txt").write_text("plain text " * 100)
    (bad / "image.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    with pytest.raises(DataError, match=r"image.txt looks binary.*on_bad_file=skip"):
        TextFolder(str(bad)).load()
    (bad / "image.txt").unlink()
    (bad / "latin1.txt").write_bytes("café".encode("latin-1"))
    with pytest.raises(
        DataError, match=r"latin1.txt is not valid utf-8 text \(bad byte at offset 3\)"
    ):
        TextFolder(str(bad)).load()
    assert TextFolder(str(bad), encoding="latin-1").load()[1] == "café"
    assert TextFolder(str(bad), on_bad_file="skip").load() == ["plain text " * 100]
    with pytest.raises(DataError, match="the val split has .* tokens, fewer than one block"):
        TextDataModule(TextFolder(str(bad), on_bad_file="skip"), block_size=512).setup()


def test_tiny_shakespeare_reads_its_real_file_and_downloads_through_the_one_fetcher(
    tmp_path, monkeypatch
):
    src = TinyShakespeare(root=str(tmp_path))
    with pytest.raises(DataError, match="download=true"):
        src.load()
    served = tmp_path / "served_input.txt"
    served.write_text(SHAKESPEARE * 20)
    urls = []
    monkeypatch.setattr(
        "lightning_gen.data.download.fetch_url", lambda url, dest, timeout=60.0: (urls.append(url), dest.write_bytes(served.read_bytes()))
    )  # fmt: skip
    docs = TinyShakespeare(root=str(tmp_path), download=True).load()
    assert urls == TinyShakespeare.URLS and docs == [SHAKESPEARE * 20]
    assert (tmp_path / "tinyshakespeare" / "input.txt").is_file()
    dm = TextDataModule(
        TinyShakespeare(root=str(tmp_path)), CharTokenizer(), block_size=32, batch_size=4
    )
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (4, 32) and dm.tokenizer.decode(x[0].tolist()) in SHAKESPEARE * 21
    assert sources.read_text(tmp_path / "tinyshakespeare" / "input.txt").startswith(
        "First Citizen:"
    )


def test_digit_tasks_are_exact_and_splits_are_disjoint():
    dm = DigitTaskDataModule(task="reverse", num_train=300, num_val=50, num_test=50, batch_size=8)
    dm.setup()
    train = {s for s, _ in dm.splits["train"]}
    assert not train & {s for s, _ in dm.splits["val"]} and all(
        t == s[::-1] for s, t in dm.splits["val"]
    )
    src, tgt = next(iter(dm.train_dataloader()))
    assert (tgt[:, 0] == 1).all() and ((src == 2).sum(1) == 1).all()
    add = DigitTaskDataModule(task="add", num_train=50, num_val=5, num_test=5)
    add.setup()
    assert all(int(t) == eval(s) for s, t in add.splits["test"])  # noqa: S307 - "12+34"
    with pytest.raises(Exception, match="only 10 distinct"):
        DigitTaskDataModule(min_len=1, max_len=1, num_train=20, num_val=1, num_test=1).setup()


# -- language model ------------------------------------------------------------------------------
def test_lm_loss_decreases_on_a_tiny_corpus_and_checkpoint_round_trips(tmp_path):
    (tmp_path / "corpus.txt").write_text("the cat sat on the mat. " * 80)
    dm = TextDataModule(TextFolder(str(tmp_path)), CharTokenizer(), block_size=32, batch_size=16)
    dm.setup()
    torch.manual_seed(0)
    lm = LanguageModel(
        **dm.model_kwargs(), dim=32, depth=1, heads=2, dropout=0.0, warmup_steps=0, lr=3e-3
    )
    batch = next(iter(dm.val_dataloader()))
    before = float(lm.loss(batch))
    t = trainer(tmp_path, 40)
    t.fit(lm, datamodule=dm)
    after = float(lm.eval().loss(batch))
    assert after < 0.5 * before, (before, after)
    text = lm.generate_text(
        ["the c"], max_new_tokens=20, temperature=0.5, generator=torch.Generator().manual_seed(0)
    )[0]
    assert text.startswith("the c") and len(text) == 25
    t.save_checkpoint(tmp_path / "lm.ckpt")
    loaded = LanguageModel.load_from_checkpoint(tmp_path / "lm.ckpt", weights_only=True).eval()
    again = loaded.generate_text(
        ["the c"], max_new_tokens=20, temperature=0.5, generator=torch.Generator().manual_seed(0)
    )
    assert again == [text] and loaded.tokenizer.vocab == dm.tokenizer.vocab


def test_lm_logs_bits_per_unit_and_perplexity(tmp_path):
    (tmp_path / "c.txt").write_text("abcd" * 300)
    dm = TextDataModule(
        TextFolder(str(tmp_path)), ByteTokenizer(), block_size=16, batch_size=8, limit=4
    )
    lm = LanguageModel(**dm.model_kwargs(), dim=16, depth=1, heads=2)
    out = L.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False).validate(
        lm, dm
    )[0]
    assert abs(out["val/bits_per_byte"] - out["val/loss"] / torch.log(torch.tensor(2.0))) < 1e-4
    assert abs(out["val/perplexity"] - torch.tensor(out["val/loss"]).exp()) < 1e-3


# -- sequence to sequence ------------------------------------------------------------------------
def test_seq2seq_reverses_digit_strings_on_cpu_in_a_short_budget(tmp_path):
    """The README's figure: short strings (3-5 digits), 150 steps; measured >= 0.95 exact match."""
    torch.manual_seed(0)
    torch.set_num_threads(1)
    dm = DigitTaskDataModule(
        min_len=3, max_len=5, num_train=5000, num_val=200, num_test=200, batch_size=64
    )
    model = Seq2Seq(**dm.model_kwargs(), dim=64, depth=2, heads=4, lr=2e-3)
    start = time.perf_counter()
    trainer(tmp_path, 150).fit(model, datamodule=dm)
    src, tgt = dm.collate(dm.splits["test"])
    pred = model.eval().decode_batch(src)
    acc = sum(p == strip(t) for p, t in zip(pred, tgt.tolist(), strict=True)) / len(pred)
    print(f"exact match {acc:.3f} after 150 steps in {time.perf_counter() - start:.1f} s")
    assert acc >= 0.9, acc
    beams = model.decode_batch(src[:20], beam_size=3)
    assert sum(b == strip(t) for b, t in zip(beams, tgt[:20].tolist(), strict=True)) >= 17
    first = dm.splits["test"][0][0]
    assert model.generate_text([first]) == [f"{first} -> {model.tokenizer.decode(pred[0])}"]


def test_lgen_sample_continues_a_prompt_from_a_run_folder(tmp_path, capsys):
    from omegaconf import OmegaConf

    from lightning_gen.commands.sample import sample
    from lightning_gen.reliability.state import RunState

    lm = LanguageModel(vocab_size=256, block_size=32, dim=16, depth=1, heads=2)
    t = L.Trainer(max_steps=0, logger=False, enable_checkpointing=False, enable_progress_bar=False, callbacks=[RunState()])  # fmt: skip
    t.strategy.connect(lm)
    t.save_checkpoint(tmp_path / "run" / "checkpoints" / "last.ckpt")
    base = OmegaConf.load("configs/sample.yaml")
    cfg = OmegaConf.merge(
        base, {"ckpt": str(tmp_path / "run"), "prompt": "def ", "max_new_tokens": 5}
    )
    out = sample(cfg)
    assert (
        out["texts"][0].startswith("def ") and len(out["texts"][0].encode("utf-8", "replace")) >= 4
    )
    assert (tmp_path / "run" / "samples" / "text.txt").read_text().startswith("=== prompt 'def '")
    assert "def " in capsys.readouterr().out
    with pytest.raises(ConfigError, match=r"LanguageModel takes no \['beam_size'\]"):
        sample(OmegaConf.merge(cfg, {"beam_size": 3}))
    with pytest.raises(ConfigError, match='pass prompt="..."'):
        sample(OmegaConf.merge(cfg, {"prompt": None}))
