#!/usr/bin/env python
"""Django's command-line utility for administrative tasks (migrate, createsuperuser, check, ...)."""

from __future__ import annotations

from auditor.project.manage import main

if __name__ == "__main__":
    main()
