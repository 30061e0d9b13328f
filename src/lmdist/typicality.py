"""Typicality and concentration (chapter 05)."""
