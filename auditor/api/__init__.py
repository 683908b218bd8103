"""The REST API under /api/v1/ (docs/architecture.md): thin views over auditor.workflow and auditor.selectors."""
