"""The seed: a dataset of public results (auditor/data/seed.jsonl.gz, from a real crawl) that a fresh installation
loads when its database is migrated, so that its first search finds the ecosystem's packages.

Loaded once per file (recorded by its sha256 in DatasetLoad, so a newer seed shipped with an upgrade is loaded on the
next migrate too), through the same import as `forkaudit import`: what the database already knows is kept. Not for
`forkaudit audit`, which migrates its database only to keep results (auditor/cli/common.py), nor where
FORKAUDIT_SEED is `none` (the tests' many fresh databases).
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import sys
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import IntegrityError

logger = logging.getLogger(__name__)

# Cleared by a command that migrates but has no use for the seed (a CLI audit): one decision per process.
LOAD_ON_MIGRATE = True


def default_seed_path() -> Path:
    return Path(__file__).parent / "data" / "seed.jsonl.gz"


def load_seed(path: Path, *, using: str = "default") -> int | None:
    """Import the dataset at `path` unless this database has loaded it before; the number of results it added, or
    None when it was loaded already."""
    from auditor.dataset import import_dataset
    from auditor.models import DatasetLoad

    content = path.read_bytes()
    digest = hashlib.sha256(content).hexdigest()
    if DatasetLoad.objects.using(using).filter(sha256=digest).exists():
        return None
    print(f"forkaudit: loading the seed dataset {path.name} (once)", file=sys.stderr, flush=True)
    opened = gzip.open(path, "rb") if content[:2] == b"\x1f\x8b" else path.open("rb")
    with opened as stream:
        try:
            summary = import_dataset(stream)
        except IntegrityError:
            # Another process (a second web replica migrating at the same moment) stored the same results first;
            # the import is one transaction, so nothing of this one was kept.
            return None
    DatasetLoad.objects.using(using).get_or_create(
        sha256=digest, defaults={"name": path.name, "imported": summary.imported}
    )
    return summary.imported


def on_post_migrate(sender: Any, using: str = "default", **kwargs: Any) -> None:
    path = settings.FORKAUDIT_SEED
    if not LOAD_ON_MIGRATE or not path or not Path(path).is_file():
        return  # turned off, or a source tree without the seed
    load_seed(Path(path), using=using)
