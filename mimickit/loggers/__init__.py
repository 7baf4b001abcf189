"""Loggers take plain dicts of scalars; `make_logger` composes the text log with TensorBoard and W&B."""
from mimickit.loggers.base import CompositeLogger, Logger
from mimickit.loggers.factory import make_logger
from mimickit.loggers.txt_logger import TxtLogger, read_txt_log

__all__ = ["CompositeLogger", "Logger", "TxtLogger", "make_logger", "read_txt_log"]
