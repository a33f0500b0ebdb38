"""The I/O shells for threads, generated from ``_async/`` by ``scripts/unasync.py``.

Every module here but ``backend`` is generated; ``backend`` holds what threads do their
own way (sleeping, locks, queues, the socket.io client class).
"""
