"""Open edX XBlock for the lab orchestrator: one OpenStack Heat lab per learner."""

from .block import LabXBlock

__all__ = ["LabXBlock"]
