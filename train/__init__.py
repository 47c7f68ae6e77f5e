"""Fit the Keras tutorials' CNNs on an expanded dataset."""
