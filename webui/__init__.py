"""The HTML face of forkaudit: audit form, reports, package pages."""
