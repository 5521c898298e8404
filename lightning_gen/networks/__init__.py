"""``nn.Module``s with parameters. They know nothing of Lightning and are tested on shapes."""
