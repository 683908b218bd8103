"""The REST API under /api/v1/ (DESIGN.md §9): thin views over auditor.workflow and auditor.selectors."""
