"""flowrestore: image restoration by deep unfolding with normalizing-flow priors."""

__version__ = "0.1.0"
