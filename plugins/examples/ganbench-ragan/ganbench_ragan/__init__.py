"""ganbench-ragan: the relativistic average GAN loss and model recipe as a ganbench plugin."""
__version__ = "0.1.0"
