"""Where the shared corpus is (see ``bench.corpus``): one locator for tests and benchmarks."""

from bench.corpus import corpus_dir

__all__ = ["corpus_dir"]
