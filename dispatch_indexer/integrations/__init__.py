"""Where the indexer meets Covalent itself: its configuration file and its post-dispatch hook."""
