"""Broker statement formats for `stocksbot import` (docs/brokers.md)."""
