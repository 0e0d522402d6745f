"""The series' interactive widgets (ipywidgets), one module per widget, each used by the notebook named:

- `LatentExplorer` (`latent_explorer`): move a code, see what the decoder makes of it (01, 02)
- `TrainingPanel` (`training_panel`): retrain with other settings, see the result (01, 02)
- `ELBOPlayground` (`elbo_playground`): move q, watch log p(x) = ELBO(q) + KL (03)
- `ModelBrowser` (`model_browser`): the models of the sweeps, by beta and latent size (04)
- `ConditionalExplorer` (`conditional_explorer`): a conditional VAE's decoder, live (05)

They do nothing until a person acts: when a notebook runs headless (papermill, nbval) they are
built at the notebook's parameter values and shown, and no training is started. Tests drive them
from Python (set a slider's ``.value``, call ``.button.click()``) and check what they show. Each
shows as a live widget in Jupyter and as its picture and a line of text elsewhere
(`helpers.widgets.display`).
"""

from helpers.widgets.conditional_explorer import ConditionalExplorer
from helpers.widgets.display import png_bytes
from helpers.widgets.elbo_playground import ELBOPlayground
from helpers.widgets.latent_explorer import LatentExplorer
from helpers.widgets.model_browser import ModelBrowser
from helpers.widgets.training_panel import TrainingPanel

__all__ = ["ConditionalExplorer", "ELBOPlayground", "LatentExplorer", "ModelBrowser", "TrainingPanel", "png_bytes"]
