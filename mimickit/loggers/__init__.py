"""Loggers take plain dicts of scalars; `RunLogger` composes the text log with TensorBoard and W&B."""
from mimickit.loggers.base import CompositeLogger, Logger
from mimickit.loggers.factory import RunLogger
from mimickit.loggers.txt_logger import TxtLogger, read_txt_log

__all__ = ["CompositeLogger", "Logger", "RunLogger", "TxtLogger", "read_txt_log"]
