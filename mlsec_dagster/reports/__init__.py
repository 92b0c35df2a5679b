"""Renderers of a ScanResult: human text, JSON and SARIF 2.1.0."""
