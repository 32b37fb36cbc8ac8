"""Fake servers that speak the HTTP APIs the tasks call, and record what they got."""
