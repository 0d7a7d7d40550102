"""`bench paper`: the POSSM paper's tables and figures regenerated from committed records.

Sections (``bench.paper.sections``): the NHP table, the latency figure, handwriting, speech and
transfer. Published figures live as data in ``published.yaml``. Entry point: ``write_paper``.
"""
