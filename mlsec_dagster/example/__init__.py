"""A small but real ML flow gated by mlsec checks: a checkpoint lands from outside, is scanned,
fine-tuned, exported to safetensors, scanned again, and only then released.

torch is imported inside the functions that train, so loading the definitions (e.g. for
``dagster job execute -j mlsec_ci_scan``) stays fast and does not need torch.
"""
