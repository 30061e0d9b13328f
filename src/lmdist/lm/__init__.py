"""The language-model engine (torch, transformers): data, models, rewards, decoding and sampling, guidance,
training losses, the cache and the bundled models. Imports :mod:`lmdist.exact`, never :mod:`lmdist.book`."""

import warnings

# transformers' hub client imports tqdm.auto, which in a Jupyter kernel without ipywidgets warns at import
# time about widget progress bars; the engine shows no widget bars (its own bars are plain tqdm).
warnings.filterwarnings("ignore", message="IProgress not found", module="tqdm")
