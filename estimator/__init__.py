"""What a dense or Mixture-of-Experts transformer costs: parameters, FLOPs, memory, time, money.

Pure Python; importing it never imports torch, streamlit or plotly.

>>> import estimator
>>> r = estimator.estimate("mixtral-8x7b", batch=1, seq_len=4096)
>>> r.params.total, r.params.active
(46702792704, 12879925248)
"""

__version__ = "0.1.0"

from .checkpoint import CheckpointBytes, checkpoint_bytes  # noqa: E402
from .compare import dense_equivalents  # noqa: E402
from .errors import EstimatorError  # noqa: E402
from .options import Options, make_options  # noqa: E402
from .params import ParamCounts, count_params  # noqa: E402
from .planner import plan  # noqa: E402  (training layouts ranked by step time)
from .presets import Model, list_presets, load_model  # noqa: E402
from .report import Report, estimate  # noqa: E402
from .spec import MLA, MoA, ModelSpec  # noqa: E402
from .sweep import sweep  # noqa: E402  (the function shadows the submodule name on purpose)
from .whatif import what_if  # noqa: E402

__all__ = ["CheckpointBytes", "EstimatorError", "MLA", "Model", "ModelSpec", "MoA", "Options",
           "ParamCounts", "Report", "checkpoint_bytes", "count_params", "dense_equivalents",
           "estimate", "list_presets", "load_model", "make_options", "plan", "sweep", "what_if"]
