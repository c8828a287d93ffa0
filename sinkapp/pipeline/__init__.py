"""The sink core: fetched partition batches → table batches → Stream Load → commits."""
