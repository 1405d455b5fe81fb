"""One training loop for every task; each task plugs in its data, loss and validation."""
