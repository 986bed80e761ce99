"""Linkage schemas shipped with aidlink (JSON package data)."""
