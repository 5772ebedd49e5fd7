"""One run of the bench: its options and what its measures share (the
templates, the corpora built, the homes already indexed, the notes)."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from dispatch_indexer import DispatchIndex

from .common import FIXTURES, log
from .corpus import Corpus, Templates, ensure_corpus


class Session:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.workdir: Path = args.workdir
        self.run_dir = self.workdir / "run"
        self.templates = Templates(FIXTURES)
        self.corpora: dict[int, Corpus] = {}
        self.indexed_homes: dict[int, Path] = {}
        self.notes: list[str] = []

    def corpus(self, n: int) -> Corpus:
        if n not in self.corpora:
            self.corpora[n] = ensure_corpus(self.workdir, self.templates, n, self.args.heavy_every)
        return self.corpora[n]

    def fresh_home(self, name: str) -> Path:
        home = self.run_dir / name
        shutil.rmtree(home, ignore_errors=True)
        home.mkdir(parents=True)
        return home

    def indexed_home(self, n: int) -> Path:
        """A home whose index holds the n-corpus (from the cold build, or built now)."""
        if n not in self.indexed_homes:
            corpus = self.corpus(n)
            home = self.fresh_home(f"indexed-{n}")
            log(f"indexing the n={n} corpus (untimed, for the measures that need it)")
            with DispatchIndex(home=home) as index:
                index.add_dirs([corpus.root])
                index.scan()
            self.indexed_homes[n] = home
        return self.indexed_homes[n]
