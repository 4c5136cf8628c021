"""Files to model inputs: discovery, decoding, frame sampling and preprocessing."""
