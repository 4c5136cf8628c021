"""memo: predict how memorable a video is."""

__version__ = "0.1.0"
