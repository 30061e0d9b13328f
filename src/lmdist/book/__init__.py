"""The book's machinery: running chapters, parameters, claims, the reproduction report, plots and the
``lmdist`` command. May import :mod:`lmdist.exact` and :mod:`lmdist.lm`."""
