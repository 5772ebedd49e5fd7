"""Finding dispatch folders under a root and bringing the index up to date with them."""
