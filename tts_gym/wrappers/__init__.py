"""Gymnasium wrappers: act with test-time sparsity, record plans, record mask videos."""
from .record_masks import RecordMasks
from .record_video import RecordMaskVideo
from .test_time_sparsity import TestTimeSparsity, TestTimeSparsityVector

__all__ = ["RecordMaskVideo", "RecordMasks", "TestTimeSparsity", "TestTimeSparsityVector"]
