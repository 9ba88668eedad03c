"""Configuration: the one settings model, the user-error family, secret redaction and logging set-up."""
