"""The background daemon: its loop, the watches it keeps, and how it is started and stopped."""
