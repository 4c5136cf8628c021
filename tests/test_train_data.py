"""Datasets, feature files and protocols on the real labels in ../shared/data (skipped where absent)."""

from __future__ import annotations

import csv
import struct
from pathlib import Path

import numpy as np
import pytest

from memo.data.datasets import check_dataset, load_csv, load_memento, load_videomem
from memo.data.features import open_features, read_psbd
from memo.errors import InputError
from memo.trainer.protocols import fold_file, holdout, inner_val, kfold
from tests.conftest import shared_data


def test_vmemnet_fold_file_reproduces_its_eight_folds() -> None:
    root = shared_data("videomem-me18")
    path = root / "vmemnet_fold_permutation.bin"
    raw = np.fromfile(path, dtype="<i8")  # independent reading of the published file
    with (root / "ground-truth_dev-set.csv").open(encoding="utf-8-sig") as handle:
        videos = [row["video"] for row in csv.DictReader(handle)]
    splits = fold_file(path, len(videos))
    assert len(splits) == 8
    seen = []
    for k, split in enumerate(splits):
        expected = np.sort(raw[1000 * k : 1000 * (k + 1)]) - 1
        assert np.array_equal(split.test, expected)
        assert split.train.size == 7000 and np.intersect1d(split.train, split.test).size == 0
        seen.extend(split.test.tolist())
    assert sorted(seen) == list(range(8000))
    # row numbers point at the ground-truth CSV's rows: fold 0's first test item
    assert videos[splits[0].test[0]] == videos[int(np.sort(raw[:1000])[0]) - 1]
    with pytest.raises(InputError, match=r"expected a permutation of rows 1\.\.7999"):
        fold_file(path, 7999)


def test_kfold_and_holdout_are_seeded_partitions() -> None:
    a, b, c = kfold(103, 5, seed=1), kfold(103, 5, seed=1), kfold(103, 5, seed=2)
    assert all(np.array_equal(x.test, y.test) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[0].test, c[0].test)
    assert sorted(np.concatenate([s.test for s in a]).tolist()) == list(range(103))
    split = holdout(100, 0.2, 0)
    assert split.test.size == 20 and np.union1d(split.train, split.test).size == 100
    fit, val = inner_val(split.train, 0.1, 0)
    assert val.size == 8 and np.intersect1d(fit, val).size == 0 and np.union1d(fit, val).size == 80
    with pytest.raises(InputError, match="--folds must be between 2"):
        kfold(10, 1, 0)


def test_videomem_loader_reads_targets_titles_and_coco_features() -> None:
    root = shared_data("videomem-me18")
    data = load_videomem(root, features="coco80_rn152.bin")
    assert len(data) == 8000 and data.ids[0] == "video10.webm"
    assert data.targets["short_term"].mean() == pytest.approx(0.859, abs=1e-3)
    assert data.targets["long_term"].mean() == pytest.approx(0.779, abs=1e-3)
    assert data.captions[0] == ["couple relaxing on picnic crane shot"]
    assert data.counts["short_term"][0] == 34
    matrix = read_psbd(root / "coco80_rn152.bin")
    assert matrix.shape == (10000, 80)
    # row 0 of the matrix is video 10 (coco80_labels.txt line 0), the first CSV row
    assert np.array_equal(data.features[0], matrix[0])
    report = check_dataset(data, ["short_term", "long_term"], ["text", "features"])
    assert report.ok, report.problems


def test_memento_loader_reads_scores_alpha_and_five_captions() -> None:
    root = shared_data("memento10k")
    data = load_memento(root)
    assert len(data) == 7000 and data.ids[0] == "17"
    assert data.targets["short_term"].mean() == pytest.approx(0.801, abs=1e-3)
    assert "decay_alpha" in data.targets
    assert all(len(c) == 5 for c in data.captions)
    assert data.captions[0][0].startswith("A brown hair girl")
    report = check_dataset(data, ["short_term"], ["text", "keyframes"])
    assert not report.ok and any("keyframes input needs video files" in p for p in report.problems)


def test_check_reports_duplicates_out_of_range_empty_captions_and_missing_videos(tmp_path: Path) -> None:
    (tmp_path / "a.mp4").write_bytes(b"")
    (tmp_path / "labels.csv").write_text(
        "path,score,caption\na.mp4,0.5,a dog\na.mp4,0.7,a cat\nb.mp4,1.4,\n", encoding="utf-8"
    )
    data = load_csv(tmp_path / "labels.csv", ["score"], text_columns=["caption"])
    report = check_dataset(data, ["score"], ["text", "keyframes"])
    text = "\n".join(report.problems)
    assert "1 duplicate id(s), e.g. a.mp4" in text
    assert "1 score score(s) outside [0, 1], e.g. b.mp4 = 1.4" in text
    assert "1 item(s) with empty captions, e.g. b.mp4" in text
    assert "1 of 3 video files missing, e.g. b.mp4" in text


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("path,caption\na.mp4,x\n", "missing column(s) score"),
        ("path,score\na.mp4,high\n", "labels.csv:2: column 'score' is not a number: 'high'"),
        ("", "empty CSV"),
    ],
)
def test_bad_csv_gives_one_line_errors(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / "labels.csv").write_text(content, encoding="utf-8")
    with pytest.raises(InputError) as info:
        load_csv(tmp_path / "labels.csv", ["score"])
    assert message in str(info.value) and "\n" not in str(info.value)


def test_feature_files_are_checked(tmp_path: Path) -> None:
    bad = tmp_path / "x.bin"
    bad.write_bytes(b"NOPE" + bytes(60))
    with pytest.raises(InputError, match="not a PSBD feature matrix"):
        read_psbd(bad)
    header = b"PSBD" + struct.pack("<fQQQQ", 1.0, 64, 12, 3, 1).ljust(60, b"\0")
    good = tmp_path / "f.bin"
    good.write_bytes(header + np.arange(6, dtype="<f4").tobytes())
    (tmp_path / "rows.txt").write_text("video7.webm\nvideo9.webm\n", encoding="utf-8")
    table = open_features(good, tmp_path / "rows.txt")
    assert np.array_equal(table.lookup("/x/video9.webm"), [3, 4, 5])
    with pytest.raises(InputError, match=r"video8\.webm: no features"):
        table.lookup("video8.webm")
    folder = tmp_path / "npy"
    folder.mkdir()
    np.save(folder / "a.npy", np.ones(4, np.float32))
    np.save(folder / "b.npy", np.zeros(4, np.float32))
    assert open_features(folder).dim == 4


def test_memento_decay_alpha_is_a_target_but_not_a_score() -> None:
    data = load_memento(shared_data("memento10k"))
    assert (data.targets["decay_alpha"] < 0).any()
    assert check_dataset(data, ["short_term", "decay_alpha"], ["text"]).ok


def test_several_feature_files_are_concatenated_in_the_order_given() -> None:
    root = shared_data("videomem-me18")
    data = load_videomem(root, features=["coco80_rn152.bin", "coco80_rn101.bin"])
    assert data.features is not None and data.features.shape == (8000, 160)
    assert np.array_equal(data.features[0, :80], read_psbd(root / "coco80_rn152.bin")[0])
    assert np.array_equal(data.features[0, 80:], read_psbd(root / "coco80_rn101.bin")[0])
    assert data.feature_source is not None and " + " in data.feature_source


def test_concatenated_features_keep_the_videos_every_source_has(tmp_path: Path) -> None:
    for folder, names in (("a", ["1", "2", "3"]), ("b", ["2", "3", "4"]), ("c", ["9"])):
        (tmp_path / folder).mkdir()
        for name in names:
            np.save(tmp_path / folder / f"{name}.npy", np.full(2, float(name), np.float32))
    table = open_features([tmp_path / "a", tmp_path / "b"])
    assert sorted(table.index) == ["2", "3"] and table.dim == 4
    assert table.lookup("video3.mp4").tolist() == [3.0, 3.0, 3.0, 3.0]
    with pytest.raises(InputError, match="no video in common"):
        open_features([tmp_path / "a", tmp_path / "c"])
