"""Neural Network Playground: design, train, evaluate and draw with neural networks on MNIST."""

__version__ = "0.1.0"
APP_NAME = "Neural Network Playground"
