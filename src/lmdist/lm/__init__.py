"""The language-model engine (torch, transformers): data, models, rewards, decoding and sampling, guidance,
training losses, the cache and the bundled models. Imports :mod:`lmdist.exact`, never :mod:`lmdist.book`."""
