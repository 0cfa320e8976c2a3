"""Integrations with other tools, each importing its tool only when called."""
