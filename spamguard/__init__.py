"""spamguard: a self-hosted comment-spam filter."""

from spamguard.model import Model, load_model
from spamguard.policy import Reason, Thresholds, Verdict
from spamguard.registry import ModelError

__all__ = ["Model", "ModelError", "Reason", "Thresholds", "Verdict", "load_model"]
__version__ = "0.1.0"
