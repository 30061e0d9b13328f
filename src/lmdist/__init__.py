"""lmdist: the shared module of the book *What alignment and decoding do to a language model's distribution*.

Three subpackages, imports only downward (``exact`` ← ``lm`` ← ``book``; a test checks it by prefix):

* :mod:`lmdist.exact` — the mathematics, numpy and scipy only, one module per concept;
* :mod:`lmdist.lm` — the language-model engine (torch, transformers); usable without the book;
* :mod:`lmdist.book` — the book's machinery: running chapters, parameters, claims, report, plots, the CLI.

Importing ``lmdist`` (or ``lmdist.exact``) never imports torch.
"""

__version__ = "0.1.0"
