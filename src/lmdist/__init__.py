"""lmdist: the shared module of the book *What alignment and decoding do to a language model's distribution*.

Three layers, arrows only downward:

* the mathematics (numpy/scipy only): :mod:`lmdist.strings`, :mod:`lmdist.infotheory`,
  :mod:`lmdist.align`, :mod:`lmdist.mixture`, :mod:`lmdist.bestofn`, :mod:`lmdist.largedev`,
  :mod:`lmdist.decoding`, :mod:`lmdist.adaptors`, :mod:`lmdist.imha`, :mod:`lmdist.typicality`,
  :mod:`lmdist.tradeoff`, :mod:`lmdist.globalnorm`;
* the language-model engine (torch, transformers): :mod:`lmdist.data`, :mod:`lmdist.models`,
  :mod:`lmdist.rewards`, :mod:`lmdist.batched`, :mod:`lmdist.sampling`, :mod:`lmdist.guidance`,
  :mod:`lmdist.losses`, :mod:`lmdist.zoo`, :mod:`lmdist.corpora`;
* the book's machinery: :mod:`lmdist.params`, :mod:`lmdist.results`, :mod:`lmdist.report`,
  :mod:`lmdist.plots`, :mod:`lmdist.cli`.
"""

__version__ = "0.1.0"
