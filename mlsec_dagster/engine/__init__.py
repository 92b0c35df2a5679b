"""Scanning engine: findings, rules, policy, discovery and dispatch. Imports no Dagster."""
