"""spamguard: a self-hosted comment-spam filter."""

from spamguard.model import Model, load_model
from spamguard.policy import Reason, Thresholds, Verdict

__all__ = ["Model", "Reason", "Thresholds", "Verdict", "load_model"]
__version__ = "0.1.0"
