"""The service's settings with Redis redelivering a dead worker's tasks within seconds instead of an hour.

With the Redis transport, a task taken by a worker that dies without acknowledging it (acks_late) goes back to the
queue once it has been unacknowledged for `visibility_timeout` seconds (kombu's default: 3600), found by a sweep that
a live worker runs every `unacked_restore_interval` × `unacked_restore_throttle` seconds (default 10 × 10). A test
that kills a worker cannot wait an hour; it must still be longer than any task of these tests, or live tasks would be
delivered twice (harmless, since tasks are idempotent, but noisy).
"""

from __future__ import annotations

from auditor.project.settings import *  # noqa: F403

CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": 20,
    "unacked_restore_interval": 1,
    "unacked_restore_throttle": 1,
}
