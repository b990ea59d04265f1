"""Plotly charts rendered to PNG with kaleido."""
