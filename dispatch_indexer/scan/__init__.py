"""Finding dispatch folders under a root and bringing the index up to date with them.

One way through: ``scanner`` asks the store what it knows of a root (the
stored stats), walks the disk (``walk``), has the changed folders read
(``read.pool``), and hands each batch of outcomes to the store once; on a
root never seen, ``listing`` first writes a provisional record per folder.
"""
