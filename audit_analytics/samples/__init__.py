"""Sample-data producers: seeded events, the seed's two hash producers, tamper injection.

``python -m audit_analytics.samples.build data_samples`` (``make samples``) rewrites the
committed samples under ``data_samples/`` from these modules.
"""
