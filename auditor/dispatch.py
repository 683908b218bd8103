"""Queueing tasks by name: services enqueue through here, so services and tasks never import each other."""

from __future__ import annotations

from typing import Any


def enqueue(task_name: str, *args: Any) -> None:
    """Send `task_name(*args)` to the broker; ids are sent as strings."""
    from auditor.project.celery import app

    app.send_task(task_name, args=[str(a) for a in args])
